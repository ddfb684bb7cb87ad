"""The DVS pixel model on scenes with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.errors import InputError
from eventsim.events.emulator import LOG_EPS, emulate_dvs, saccade_video


def _step_scene(n_thresholds: float, threshold=0.2, i0=0.5):
    """One pixel: constant, then (between t=1000 and t=2000 us) a log step of
    ``n_thresholds`` thresholds."""
    i1 = (i0 + LOG_EPS) * np.exp(n_thresholds * threshold) - LOG_EPS
    return np.array([[[i0]], [[i0]], [[i1]]]), np.array([0, 1000, 2000])


def test_brightness_step_gives_floor_of_the_change_at_the_interpolated_times():
    frames, t = _step_scene(3.5)
    s = emulate_dvs(frames, t, threshold=0.2)
    # crossings of levels 1, 2, 3 thresholds on a linear ramp of 3.5 thresholds over 1000 us
    assert s.events["t"].tolist() == [1285, 1571, 1857]
    assert s.events["p"].tolist() == [1, 1, 1] and s.sensor_size == (1, 1, 2)


def test_darkening_gives_off_events():
    frames, t = _step_scene(2.2)
    s = emulate_dvs(frames[::-1].copy(), t, threshold=0.2)  # the step is now at 0..1000 us
    assert s.events["t"].tolist() == [454, 909] and s.events["p"].tolist() == [0, 0]


def test_separate_on_and_off_thresholds():
    frames, t = _step_scene(3.5, threshold=0.2)  # a log change of 0.7
    assert len(emulate_dvs(frames, t, threshold=(0.3, 0.1))) == 2        # ON: 0.7 // 0.3
    assert len(emulate_dvs(frames[::-1].copy(), t, threshold=(0.3, 0.1))) == 6  # OFF: 0.7 // 0.1


def test_refractory_period_drops_events_but_the_reference_follows():
    frames, t = _step_scene(3.5)
    s = emulate_dvs(frames, t, threshold=0.2, refractory_us=400)
    assert s.events["t"].tolist() == [1285, 1857]  # 1571 is 286 us after 1285
    # the reference followed the dropped crossing: a return to the start gives 3 OFF events
    back = np.concatenate([frames, frames[:1]])
    s = emulate_dvs(back, np.array([0, 1000, 2000, 3000]), threshold=0.2, refractory_us=400)
    assert s.events["p"].tolist() == [1, 1, 0, 0] and s.events["t"][2] >= 2000


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 4.0), min_size=2, max_size=12), st.floats(0.05, 0.5))
def test_event_count_follows_the_log_intensity(levels, threshold):
    """Net ON minus OFF events times the threshold tracks the total log change to within one
    threshold, for any sequence of brightness levels."""
    frames = np.array(levels)[:, None, None]
    t = np.arange(len(levels)) * 1000
    s = emulate_dvs(frames, t, threshold=threshold)
    net = int(s.events["p"].sum()) - int((s.events["p"] == 0).sum())
    change = np.log(levels[-1] + LOG_EPS) - np.log(levels[0] + LOG_EPS)
    assert abs(net * threshold - change) < threshold + 1e-9
    assert np.all(np.diff(s.events["t"]) >= 0)


def test_still_scene_gives_only_noise_at_the_given_rate():
    frames = np.full((11, 10, 10), 0.3)
    t = np.arange(11) * 100_000  # 1 s
    assert len(emulate_dvs(frames, t)) == 0
    s = emulate_dvs(frames, t, noise_rate_hz=5.0, seed=1)
    assert abs(len(s) - 500) < 4 * np.sqrt(500)  # Poisson(5 Hz x 1 s x 100 pixels)
    assert len(emulate_dvs(frames, t, noise_rate_hz=5.0, seed=1)) == len(s)  # seeded
    assert 0.4 < s.events["p"].mean() < 0.6


def test_saccades_over_an_image_look_like_nmnist():
    image = np.zeros((28, 28))
    image[8:20, 12:16] = 1.0  # a bar
    frames, t = saccade_video(image)
    assert frames.shape == (301, 28, 28) and t[-1] == 300_000
    s = emulate_dvs(frames, t)
    assert 1000 < len(s) < 20000
    assert {0, 1} == set(s.events["p"].tolist())
    inside = (s.events["x"] >= 8) & (s.events["x"] < 20)  # edges of the bar, +- 2 px
    assert inside.mean() > 0.9


@pytest.mark.parametrize("kwargs, match", [
    ({"frames": np.zeros((1, 2, 2))}, r"'frames' must have shape \(N >= 2, H, W\)"),
    ({"frames": -np.ones((2, 2, 2))}, "finite intensities >= 0"),
    ({"timestamps_us": np.array([0, 0])}, "strictly increasing"),
    ({"timestamps_us": np.array([0, 1, 2])}, r"must be 2 finite numbers \(one per frame\)"),
    ({"threshold": 0.0}, r"threshold \(ON\) must be a finite number > 0"),
    ({"threshold": (0.2, np.nan)}, r"threshold \(OFF\)"),
    ({"refractory_us": -1}, "refractory_us and noise_rate_hz must be >= 0"),
])
def test_bad_arguments(kwargs, match):
    args = {"frames": np.ones((2, 2, 2)), "timestamps_us": np.array([0, 10])} | kwargs
    with pytest.raises(InputError, match=match):
        emulate_dvs(**args)
