"""``eventsim demo``: the whole pipeline with nothing on disk but the package and its clone.

MNIST test digits shipped with the package (``eventsim/data/digits.npz``: 200 images, 20 of
each class, from the MNIST test set, Y. LeCun and C. Cortes, CC BY-SA 3.0) become N-MNIST-like
recordings: each digit, centred on a 34 x 34 sensor, is moved along N-MNIST's three saccades
and seen through the DVS pixel model (:func:`~eventsim.events.emulator.emulate_dvs`). The
network trained on real N-MNIST (``networks/nmnist-mlp.h5`` of the clone) classifies them
event by event; without that file a tiny network is trained on the spot on the other 180
emulated digits. The demo prints accuracy, synaptic operations, sparsity and the energy
estimate against the equivalent ANN, and writes the HTML report.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import numpy as np

SENSOR = (34, 34, 2)
PAD = 3  # 28 x 28 digit in the middle of the 34 x 34 sensor
NETWORK = Path(__file__).resolve().parents[1] / "networks" / "nmnist-mlp.h5"


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The shipped digits: images (200, 28, 28) uint8 and labels (200,); the first 20 hold
    two of each class."""
    with resources.files("eventsim").joinpath("data/digits.npz").open("rb") as f:
        data = np.load(f)
        return data["images"], data["labels"].astype(np.int64)


def digit_stream(image: np.ndarray, seed: int):
    """An N-MNIST-like recording of one 28 x 28 digit (300 ms, three saccades)."""
    from eventsim.events.emulator import emulate_dvs, saccade_video
    from eventsim.events.stream import EventStream

    frames, t = saccade_video(np.pad(image / 255.0, PAD), amplitude_px=2.0)
    stream = emulate_dvs(frames, t, threshold=0.2, seed=seed)
    return EventStream(stream.events, SENSOR, source=f"<emulated digit seed={seed}>")


def _tiny_network(streams, labels, log):
    """2312-100-10 trained on the spot (STBP, 15 epochs) when no shipped network is found."""
    from eventsim.events.binning import bin_events
    from eventsim.train.spec import build_network
    from eventsim.train.trainer import TrainConfig, Trainer

    rng = np.random.default_rng(0)
    net = build_network([{"type": "Dense", "out": 100}, {"type": "Dense", "out": 10}],
                        (2, 34, 34), {"decay": 0.2, "v_th": 0.5, "reset": "zero"}, False, rng,
                        "demo")
    net.dt_us, net.T, net.sensor_size = 10_000, 30, SENSOR
    x = np.stack([bin_events(s, 10_000, 30) for s in streams]).astype(np.uint8)
    trainer = Trainer(net, TrainConfig(epochs=15, batch_size=20, seed=0),
                      lambda b, rng, augment: np.swapaxes(b, 0, 1))
    for _ in range(15):
        stats = trainer.train_epoch(x, labels, progress=False)
    log(f"trained a tiny 2312-100-10 network on {len(streams)} emulated digits "
        f"(train accuracy {stats['train_accuracy']:.0%})")
    net.labels = [str(i) for i in range(10)]
    return net


def run_demo(out: str | Path = "eventsim-demo", samples: int = 20, net_path=None,
             log=print) -> dict:
    """Run the demo (module docstring); returns the run's JSON payload (with ``"metrics"``,
    :meth:`eventsim.runs.RunSummary.to_json`)."""
    from eventsim import load_network
    from eventsim.metrics.report import write_report
    from eventsim.runs import run_dataset

    start = time.perf_counter()
    images, labels = digits()
    if not 1 <= samples <= 20:
        from eventsim.errors import InputError

        raise InputError(f"eventsim demo: --samples must be 1..20, got {samples}")
    test = [digit_stream(images[k], seed=k) for k in range(samples)]
    log(f"emulated {samples} N-MNIST-like recordings of shipped MNIST test digits "
        f"(DVS model, 300 ms, 3 saccades; {np.mean([len(s) for s in test]):.0f} events each)")
    path = Path(net_path) if net_path else NETWORK
    if path.is_file():
        net = load_network(path)
        name = str(path)
        log(f"network: {path} (trained on real N-MNIST recordings)")
    else:
        train = [digit_stream(images[k], seed=k) for k in range(20, len(images))]
        net = _tiny_network(train, labels[20:], log)
        name = "<tiny network trained on the spot>"
    run = run_dataset(net, test, list(labels[:samples]), name=name,
                      input_name="<shipped digits, emulated DVS>", metrics=True)
    payload = run.to_json()
    m = run.metrics
    correct, accuracy = run.correct, run.accuracy
    log(f"accuracy: {accuracy:.0%} ({correct}/{samples})")
    log(f"{'layer':<16}{'SOPs/sample':>14}{'spikes/sample':>15}{'sparsity':>10}"
        f"{'SNN pJ':>12}{'ANN pJ':>12}   (45 nm fp32)")
    fp32 = m["energy"]["cmos45-fp32"]
    for x, snn, ann in zip(m["layers"], fp32["snn_pj_per_sample"], fp32["ann_pj_per_sample"]):
        log(f"{x['name']:<16}{x['effective_acs'] / samples:>14.4g}"
            f"{x['spikes'] / samples:>15.4g}{x['activation_sparsity']:>10.3f}"
            f"{snn:>12.4g}{ann:>12.4g}")
    snn, ann = sum(fp32["snn_pj_per_sample"]), sum(fp32["ann_pj_per_sample"])
    log(f"energy per sample: SNN {snn / 1e6:.3g} uJ, equivalent ANN {ann / 1e6:.3g} uJ "
        f"(ratio {snn / ann:.2f}; estimates from the counted operations)")
    index = write_report(payload, out)
    log(f"report: {index.resolve()}")
    log(f"done in {time.perf_counter() - start:.1f} s")
    return payload
