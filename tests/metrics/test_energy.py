"""Energy profiles: built-in numbers, user files and their errors, the per-layer sums."""

from __future__ import annotations

import numpy as np
import pytest

import eventsim
from eventsim.errors import InputError
from eventsim.metrics import layer_metrics
from eventsim.metrics.energy import layer_energy, load_profile, profile_names
from eventsim.network.layers import Dense
from eventsim.network.network import Network


def test_builtin_profiles_have_sources():
    assert {"cmos45-fp32", "cmos45-fp16", "cmos45-int32", "cmos45-int8", "loihi",
            "truenorth"} <= set(profile_names())
    for name in profile_names():
        p = load_profile(name)
        assert p.e_ac_pj > 0 and set(p.sources) >= {"e_ac_pj", "e_update_pj"}
        assert all(s for s in p.sources.values())
    fp32 = load_profile("cmos45-fp32")
    assert (fp32.e_ac_pj, fp32.e_mac_pj) == (0.9, 4.6)
    assert fp32.sram_pj == {8192: 10.0, 32768: 20.0, 1048576: 100.0}
    assert load_profile("loihi").e_mac_pj is None


def _metrics():
    w = np.array([[1.0, 0.0, 0.5], [0.2, 0.3, 0.0]])
    net = Network([Dense(w, v_th=0.4, decay=0.5)], (3,))
    x = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 0]], np.uint8)
    return layer_metrics(net, eventsim.simulate(net, x))


def test_energy_is_counts_times_profile():
    m = _metrics()[0]
    e = layer_energy([m], "cmos45-fp32")[0]
    assert e.acs_pj == pytest.approx(m.effective_acs * 0.9)
    assert e.updates_pj == pytest.approx(m.membrane_updates * 4.6)
    assert e.snn_pj == pytest.approx(e.acs_pj + e.updates_pj)
    assert e.ann_pj == pytest.approx(6 * 4.6)  # 2x3 connections, one pass
    assert layer_energy([m], "loihi")[0].ann_pj is None
    mem = layer_energy([m], "cmos45-fp32", memory=True)[0]
    assert mem.sram_bytes == 8192  # 4 nonzero weights x 4 bytes fit the smallest SRAM
    assert mem.memory_pj == pytest.approx(m.effective_acs * 10.0)
    with pytest.raises(InputError, match="'loihi' has no 'sram_pj' table"):
        layer_energy([m], "loihi", memory=True)


def test_user_profile_file(tmp_path):
    f = tmp_path / "chip.toml"
    f.write_text('description = "mine"\ne_ac_pj = 2.0\ne_update_pj = { value = 1.0, '
                 'source = "datasheet" }\ne_mac_pj = 5\n')
    p = load_profile(f)
    assert (p.name, p.e_ac_pj, p.e_update_pj, p.e_mac_pj) == ("chip", 2.0, 1.0, 5.0)
    assert p.sources == {"e_update_pj": "datasheet"}
    g = tmp_path / "one.toml"
    g.write_text('[mychip]\ne_ac_pj = 1\ne_update_pj = 0\n')
    assert load_profile(g).name == "mychip"


@pytest.mark.parametrize("text, match", [
    ("e_ac_pj = 1\n", "missing key 'e_update_pj'"),
    ("e_ac_pj = 1\ne_update_pj = 1\ne_add_pj = 3\n", "unknown key 'e_add_pj'"),
    ("e_ac_pj = -1\ne_update_pj = 1\n", "key 'e_ac_pj' must be a number of picojoules >= 0"),
    ("e_ac_pj = \"x\"\ne_update_pj = 1\n", "key 'e_ac_pj' must be a number"),
    ("e_ac_pj = 1\ne_update_pj = 1\nsram_pj = 3\n", r"key 'sram_pj' must be a table"),
    ("e_ac_pj = 1\ne_update_pj = 1\nsram_pj = { big = 3 }\n", "sram_pj' has size 'big'"),
    ("e_ac_pj = [1\n", "not a valid TOML file"),
])
def test_bad_user_profile_names_file_and_key(tmp_path, text, match):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        load_profile(f)
    assert str(f) in str(err.value)


def test_unknown_profile_name():
    with pytest.raises(InputError, match="not a built-in energy profile"):
        load_profile("loihi3")
