"""The ``eventsim`` command: argument parsing and printing only."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import warnings
from pathlib import Path

from eventsim import fileio
from eventsim.errors import (
    EventsimError,
    EventsimWarning,
    InputError,
    NetworkError,
    OutputError,
    ResourceError,
)
from eventsim.events.binning import DEFAULT_DT_US
from eventsim.limits import INT64_MAX, check_window
from eventsim.network.nir import DISCRETISATIONS

#: Memory of one Dask worker process before it holds the network (Python, numba, dask).
WORKER_BYTES = 400 << 20
EXAMPLE_NOTE = ("example: a seeded random 2312-800-10 network (decay 0.2, v_th 0.5) on a "
                "synthetic 300 ms N-MNIST-like recording generated on the spot")


class UsageError(InputError):
    """The command line does not parse (a flag's value, a missing argument)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing its usage and exiting 2,
    so that a bad flag is one ``eventsim: error: ...`` line and exit status 1, like any other
    bad input (``--help`` still prints the usage)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _whole(low: int = 1, high: int = INT64_MAX):
    """An argparse type: a whole number in ``low..high`` (digits only: no 1e5, no 2.5)."""

    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()):  # not 1e5, 1_000, " 30" or other digits
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {low} to {high}, got {text!r}")
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: expected a whole number from {low} to {high}")
        return value

    return parse


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _speed(text: str) -> float:
    """An argparse type: a number > 0, or inf."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or inf, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or inf, got {text!r}")
    return value


def _brian_step(text: str) -> float:
    """An argparse type: Brian2's step in us, at least 1 ns (Brian2 steps every neuron every
    step: a step of 1e-15 us would never end)."""
    value = _positive(text)
    if value < 1e-3:
        raise argparse.ArgumentTypeError(f"{text} us is below Brian2's smallest step here, "
                                         "0.001 us (1 ns)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eventsim", description="Event-driven simulation of spiking networks on event data.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="simulate a network on event recordings",
                         description="Simulate NET on INPUT (a file, or a folder searched "
                         "recursively; a numeric or class-named parent folder gives the label).")
    run.add_argument("net", nargs="?", help="network file (.h5, from save_network)")
    run.add_argument("input", nargs="?", help="event file or folder")
    run.add_argument("--example", action="store_true",
                     help="run the embedded default instead (no files needed)")
    run.add_argument("--dt-us", type=_whole(), help="bin width in us (default: the network's, else 1000)")
    run.add_argument("--T", type=_whole(), dest="T",
                     help="steps per sample (default: the network's, else covering the recording)")
    run.add_argument("--mode", choices=["discrete", "continuous"], default="discrete")
    run.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    run.add_argument("--chunk-events", type=_whole(),
                     help="stream each file in chunks of this many events (bounded memory)")
    run.add_argument("--threads", type=_whole(),
                     help="run the samples on N threads of this process (default: every core)")
    run.add_argument("--workers", type=_whole(), default=1,
                     help="run the samples in parallel on a local Dask cluster of N processes")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the samples on an existing Dask cluster (tcp://host:8786)")
    run.add_argument("--realtime", action="store_true",
                     help="replay one recording at its own pace, deciding after every chunk: "
                     "prints the decisions, their latency and whether the engine keeps up")
    run.add_argument("--chunk-us", type=_whole(), default=10_000,
                     help="--realtime: chunk length in us of the recording (default 10000)")
    run.add_argument("--speed", type=_speed, default=1.0,
                     help="--realtime: replay this many times faster than real time "
                     "(default 1; inf: no waiting)")
    run.add_argument("--json", type=Path, help="write the results to this JSON file")
    run.add_argument("--report", type=Path, metavar="DIR",
                     help="write an HTML report with figures into DIR (discrete mode)")
    run.add_argument("--profile", action="append", metavar="NAME|FILE.toml",
                     help="energy profile for --json/--report, built-in name or TOML file "
                     "(repeatable; default: cmos45-fp32, cmos45-int8, loihi)")
    run.add_argument("--debug", action="store_true", help="show tracebacks")
    quant = sub.add_parser("quantize", help="post-training weight quantization to integers",
                           description="Quantize NET's weights to BITS-bit integers (symmetric, "
                           "one scale per layer or per output channel; thresholds and biases "
                           "scaled with them) and "
                           "save the integer network, which the engine and Brian2 run exactly.")
    quant.add_argument("net", help="network file (.h5)")
    quant.add_argument("--bits", type=_whole(2, 16), default=8, help="bits per weight (2..16, default 8)")
    quant.add_argument("--per-channel", action="store_true",
                       help="one scale (and threshold) per output channel instead of per layer")
    quant.add_argument("--out", type=Path, required=True, help="network file to write (.h5)")
    quant.add_argument("--debug", action="store_true", help="show tracebacks")
    dep = sub.add_parser("deploy", help="check a network against a neuromorphic chip",
                         description="Map NET onto a chip target (its cores, memories, "
                         "precisions, neuron models; every limit with its source) and print "
                         "the mapping, or every violation with what would fix it. Exit status "
                         "1 when it does not fit.")
    dep.add_argument("net", help="network file (.h5)")
    dep.add_argument("--target", required=True, metavar="TARGET",
                     help="a shipped target (loihi2, speck, xylo) or a TOML file of limits")
    dep.add_argument("--report", type=Path, metavar="DIR",
                     help="also write deploy.md and deploy.json into DIR")
    dep.add_argument("--debug", action="store_true", help="show tracebacks")
    demo = sub.add_parser("demo", help="the whole pipeline on shipped digits, no data needed",
                          description="Emulate N-MNIST-like recordings of digits shipped with "
                          "the package, run the trained N-MNIST network on them, print "
                          "accuracy, SOPs, sparsity and energy, and write the HTML report.")
    demo.add_argument("--out", type=Path, default=Path("eventsim-demo"),
                      help="report folder (default: ./eventsim-demo)")
    demo.add_argument("--samples", type=_whole(1, 20), default=20, help="digits to run, 1..20")
    demo.add_argument("--net", type=Path, help="network to run instead of networks/nmnist-mlp.h5")
    demo.add_argument("--debug", action="store_true", help="show tracebacks")
    rep = sub.add_parser("report", help="HTML report with figures from a run's JSON",
                         description="Draw the report of a run written by `eventsim run ... "
                         "--json RESULT.json`: index.html, PNG figures, Markdown and JSON tables.")
    rep.add_argument("result", help="JSON written by eventsim run --json")
    rep.add_argument("--out", type=Path, required=True, help="folder to write the report into")
    rep.add_argument("--debug", action="store_true", help="show tracebacks")
    val = sub.add_parser("validate", help="cross-check the runtime against Brian2",
                         description="Run NET on the samples of INPUT in eventsim (float64) and "
                         "in Brian2 and compare the spike trains. Exit 0 only when they agree "
                         "(discrete: no mismatching spike; continuous: every spike time within "
                         "one Brian2 step).")
    val.add_argument("net", help="network file (.h5, from save_network)")
    val.add_argument("input", nargs="?", help="event file or folder (or --random-input)")
    val.add_argument("--random-input", type=_whole(), metavar="N",
                     help="instead of INPUT: N samples of seeded random 0/1 spikes on every "
                     "input channel (networks whose input is not a camera: a cochlea, Braille)")
    val.add_argument("--rate", type=float, default=0.1,
                     help="with --random-input: the chance of a spike per channel and step "
                     "(default 0.1)")
    val.add_argument("--seed", type=int, default=0, help="with --random-input (default 0)")
    val.add_argument("--samples", type=_whole(), help="use the first N samples (default: all)")
    val.add_argument("--mode", choices=["discrete", "continuous"], default="discrete")
    val.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], default="numpy",
                     help="Brian2 code generation target")
    val.add_argument("--dt-us", type=_whole(), help="bin width in us (default: the network's)")
    val.add_argument("--T", type=_whole(), dest="T", help="steps per sample (default: the network's)")
    val.add_argument("--dt-brian-us", type=_brian_step,
                     help="continuous mode: Brian2's step in us (default 1)")
    val.add_argument("--reference", help="network file Brian2 runs instead of NET (an "
                     "original to check an edited copy against)")
    val.add_argument("--json", type=Path, help="write the report to this JSON file")
    val.add_argument("--debug", action="store_true", help="show tracebacks")
    conv = sub.add_parser("convert", help="NIR graph to network file, or network file to NIR",
                          description="Convert IN to OUT, the direction set by their suffixes: "
                          "a NIR graph (.nir) to a network file (.h5) that run, validate and "
                          "quantize read, or a network file to a NIR graph. A graph another "
                          "framework wrote is read in its convention: snnTorch --dt-us 100 "
                          "--discretisation euler; Sinabs --dt-us 1000000 --discretisation zoh "
                          "--reset subtract (tau in steps; or --dt-us D --tau-scale D*1e-6 on a "
                          "real step of D us); Norse 1.1.0 --dt-us 1000 --discretisation norse "
                          "--tau-scale 1000 (its LIFBoxCell reads the same with euler); Spyx "
                          "1.0.0 --dt-us 1000000 --discretisation spyx.")
    conv.add_argument("input", type=Path, help="NIR graph (.nir) or network file (.h5)")
    conv.add_argument("--out", type=Path, required=True, help="file to write (.h5 or .nir)")
    conv.add_argument("--dt-us", type=_whole(),
                      help="step in us (reading: default the graph's dt_s; writing: default "
                      "the network's)")
    conv.add_argument("--discretisation", choices=list(DISCRETISATIONS),
                      help="reading NIR: how neuron nodes are stepped (default exact; "
                      "CubaLIF: euler as snnTorch, norse as Norse 1.1.0)")
    conv.add_argument("--reset", choices=["zero", "subtract"],
                      help="reading NIR: reset of neuron nodes (default zero: to their v_reset)")
    conv.add_argument("--tau-scale", type=_positive,
                      help="reading NIR: multiply every tau by this (1/dt for Norse 1.1.0, "
                      "the step in s for Sinabs)")
    conv.add_argument("--debug", action="store_true", help="show tracebacks")
    train = sub.add_parser("train", help="train a network with STBP from a TOML spec",
                           description="Train the network a TOML spec describes (data, binning, "
                           "architecture, hyper-parameters) and save it for `eventsim run`.")
    train.add_argument("spec", help="training spec (.toml)")
    train.add_argument("--out", type=Path, required=True, help="network file to write (.h5)")
    train.add_argument("--epochs", type=_whole(), help="override the spec's number of epochs")
    train.add_argument("--resume", type=Path, help="checkpoint to continue from")
    train.add_argument("--qat-bits", type=_whole(2, 16), metavar="BITS",
                       help="quantization-aware training: the forward pass runs the network "
                       "quantized to BITS (overrides the spec's qat_bits); writes the integer "
                       "network")
    train.add_argument("--init", type=Path, metavar="NET",
                       help="start from the weights of this network file (fine-tuning; "
                       "overrides the spec's init)")
    train.add_argument("--qat-per-channel", action="store_true",
                       help="with --qat-bits: one scale per output channel")
    train.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def cmd_train(args) -> int:
    from eventsim.train.fit import fit
    from eventsim.train.spec import load_spec

    spec = load_spec(args.spec)
    if args.qat_bits is not None:
        spec.config.qat_bits = args.qat_bits
    if args.qat_per_channel:
        spec.config.qat_per_channel = True
    if args.init is not None:
        spec.config.init = str(fileio.input_path(args.init, "network file", "eventsim train"))
    provenance = fit(spec, args.out, args.epochs, args.resume)
    print(f"wrote {args.out} (trainer test accuracy {provenance['trainer_test_accuracy']:.2%}); "
          f"checkpoint {args.out}.ckpt.h5")
    return 0


def _samples(input_path: str) -> list[Path]:
    from eventsim.events.readers import SUPPORTED_EXTENSIONS

    path = fileio.input_path(input_path, "file or folder", "eventsim", folder_ok=True)
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*")
                   if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)
    if not files:
        raise InputError(f"{path}: no event files ({', '.join(SUPPORTED_EXTENSIONS)}) in the folder")
    return files


def _check_json_path(path: Path, inputs: list) -> None:
    """Fail before the run, naming ``path`` as given, unless the JSON file can be written and
    is none of the run's ``inputs``."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a JSON file to write")
    fileio.check_output(path, inputs, "JSON results")
    fileio.check_writable_folder(path.resolve().parent, "JSON file", path)


def _check_report_path(path: Path, inputs: list, files: tuple | None = None) -> None:
    """Fail before the run unless the report folder ``path`` can be made (its parent exists;
    only the folder itself is created) and neither it nor a file the report writes
    (``files``: the run report's by default) is one of the run's ``inputs``."""
    from eventsim.metrics.report import REPORT_FILES

    for target in (path, *(path / name for name in (files or REPORT_FILES))):
        fileio.check_output(target, inputs, "report")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file; expected a folder for the report")
    fileio.check_writable_folder(path.resolve().parent, "report folder", path)


def _write_json(path: Path, payload: dict) -> None:
    fileio.write_text(path, json.dumps(payload, indent=1), "JSON results")


def _check_workers(workers: int, net) -> None:
    """A local cluster runs one single-threaded worker process per core: refuse more workers
    than cores, or than the memory holds (a worker, its numba kernels and the network)."""
    from eventsim.engine.plan import plan_bytes
    from eventsim.limits import check_memory

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if workers > (cores or 1):
        raise ResourceError(f"eventsim run: --workers {workers}: this machine has {cores} cores, "
                            f"and a local cluster runs one single-threaded worker per core; give "
                            f"at most --workers {cores} (or --scheduler for a cluster's workers)")
    check_memory(workers * (WORKER_BYTES + plan_bytes(net)),
                 f"eventsim run: --workers {workers} (each a process with its numba kernels and "
                 "the network)")


def _with_file(net_name: str, err: EventsimError) -> EventsimError:
    """``err`` with the network file named first (an engine error names the layer only)."""
    text = str(err)
    return err if text.startswith(f"{net_name}: ") else type(err)(f"{net_name}: {text}")


def cmd_run(args) -> int:
    from tqdm import tqdm

    from eventsim import Simulator, load_network, random_mlp, saccade_events
    from eventsim.runs import run_dataset

    parallel = args.workers > 1 or args.scheduler is not None
    if args.workers > 1 and args.scheduler is not None:
        raise InputError("eventsim run: --workers starts a local cluster, --scheduler uses a "
                         "running one (its workers): give one of them")
    if parallel and args.threads is not None:
        raise InputError("eventsim run: --threads runs on this machine, --workers/--scheduler "
                         "on a Dask cluster: give one of them")
    if parallel and (args.example or args.chunk_events is not None):
        raise InputError("eventsim run: --workers/--scheduler run sample files in parallel; "
                         "not with --example or --chunk-events")
    if args.chunk_events is not None and args.mode != "discrete":
        raise InputError(f"eventsim run: --chunk-events streams in discrete mode only; "
                         f"got --mode {args.mode}")
    if args.report is not None and args.mode != "discrete":
        raise InputError("eventsim run: --report draws per-step figures: discrete mode only; "
                         f"got --mode {args.mode}")
    if args.chunk_events is not None and args.example:
        raise InputError("eventsim run: --chunk-events streams files; --example reads none")
    if args.realtime:
        return _run_realtime(args)
    profiles = _profiles(args.profile)
    if not args.example and (not args.net or not args.input):
        raise InputError("eventsim run: give NET and INPUT, or --example")
    files = [None] if args.example else _samples(args.input)
    # every output is checked before the run: writable, and none of the inputs
    inputs = [args.net, args.input, *[f for f in files if f is not None],
              *[p for p in args.profile or () if p.endswith(".toml")]]
    if args.json is not None:
        _check_json_path(args.json, inputs)
    if args.report is not None:
        _check_report_path(args.report, inputs)
    if args.example:
        net = random_mlp([2312, 800, 10], (2, 34, 34), weight_std=[0.05, 0.08], seed=0)
        print(EXAMPLE_NOTE)
        net_name = "<example network>"
    else:
        net, net_name = load_network(args.net), args.net
    dt_us = args.dt_us or net.dt_us or DEFAULT_DT_US
    if args.T is not None:
        check_window(args.T, dt_us, net.n_neurons, "eventsim run", ("--T", "--dt-us"))
    if args.workers > 1:
        _check_workers(args.workers, net)
    samples = [saccade_events()] if args.example else files
    try:  # the network is checked before any sample runs
        Simulator(net, args.mode, args.dtype, dt_us, args.T)
    except EventsimError as err:
        raise _with_file(net_name, err) from None
    with tqdm(total=len(samples), disable=len(samples) <= 1, file=sys.stderr,
              unit="sample") as bar:
        run = run_dataset(net, samples, name=net_name, input_name=args.input, mode=args.mode,
                          dtype=args.dtype, dt_us=dt_us, T=args.T, threads=args.threads,
                          workers=args.workers, scheduler=args.scheduler,
                          chunk_events=args.chunk_events, profiles=profiles,
                          metrics=bool(args.json or args.report), progress=bar.update,
                          strict=len(samples) == 1 or args.debug)
    for f in run.not_run:
        print(f"eventsim: error: sample not run: {f.error}", file=sys.stderr)
    if not run.samples:
        print(f"eventsim: error: no sample ran ({len(run.not_run)} not run); nothing written",
              file=sys.stderr)
        return 1
    n = len(run.samples)
    not_run = f" ({len(run.not_run)} not run)" if run.not_run else ""
    print(f"network: {net_name}  mode: {args.mode}  dtype: {args.dtype}  dt_us: {dt_us}  "
          f"samples: {n}{not_run}")
    print(run.table())
    print(f"time: {run.seconds:.3f} s ({run.seconds / n * 1e3:.2f} ms per sample, "
          "including reading the files)")
    if run.accuracy is not None:
        print(f"accuracy: {run.accuracy:.2%} ({run.correct}/{run.labelled})")
    if args.json:
        _write_json(args.json, run.to_json())
        print(f"wrote {args.json}")
    if args.report:
        from eventsim.metrics.report import write_report

        print(f"report: {write_report(run.to_json(), args.report)}")
    return 1 if run.not_run else 0


def _run_realtime(args) -> int:
    """``eventsim run NET FILE --realtime``: :func:`eventsim.realtime.replay`, printed."""
    import numpy as np

    from eventsim import Simulator, load_network, read_events
    from eventsim.realtime import replay
    from eventsim.runs import label_of, sensor_size_of

    others = [flag for flag, given in (("--example", args.example), ("--json", args.json),
                                       ("--report", args.report),
                                       ("--threads", args.threads is not None),
                                       ("--workers", args.workers > 1),
                                       ("--scheduler", args.scheduler),
                                       ("--chunk-events", args.chunk_events)) if given]
    if others or args.mode != "discrete":
        raise InputError("eventsim run: --realtime replays one recording in discrete mode; "
                         f"not with {', '.join(others) or '--mode ' + args.mode}")
    if not args.net or not args.input:
        raise InputError("eventsim run: --realtime needs NET and one event FILE")
    files = _samples(args.input)
    if len(files) != 1:
        raise InputError(f"eventsim run: --realtime replays one recording; {args.input} holds "
                         f"{len(files)}")
    net = load_network(args.net)
    try:
        sim = Simulator(net, "discrete", args.dtype, args.dt_us, args.T)
    except EventsimError as err:
        raise _with_file(args.net, err) from None
    stream = read_events(files[0], sensor_size_of(net))
    print(f"network: {args.net}  replaying {files[0]} ({len(stream)} events) in chunks of "
          f"{args.chunk_us} us at {args.speed:g}x real time, dt_us {sim.dt_us}")

    def show(t_us: int, decision: int) -> None:
        print(f"t={t_us / 1e3:10.1f} ms  decision: {decision}")

    run = replay(sim, stream, args.chunk_us, args.speed, on_decision=show)
    label = label_of(files[0], net.labels)
    known = f" (label {label})" if label is not None else ""
    print(f"decision at the end: {run.result.predicted}{known}")
    undecided = int(np.isnan(run.latency_s).sum())
    after = f" ({undecided} after the window's end, never decided)" if undecided else ""
    print(f"latency from an event to the first decision that includes it: median "
          f"{run.latency_percentile(50) * 1e3:.2f} ms, p99 {run.latency_percentile(99) * 1e3:.2f} "
          f"ms over {run.events - undecided} events{after}")
    verdict = "keeps up" if run.keeps_up else "falls behind"
    pace = args.speed if math.isfinite(args.speed) else 1  # inf: against real time
    print(f"engine: {run.sustained_rate:.4g} events/s sustained (busy {run.busy_s * 1e3:.1f} ms) "
          f"against the recording's {run.recording_rate:.4g} events/s x{pace:g}: {verdict}")
    return 0


def cmd_validate(args) -> int:
    from tqdm import tqdm

    from eventsim import load_network, read_events
    from eventsim.bridges.brian2 import check_bridgeable
    from eventsim.runs import sensor_size_of
    from eventsim.validate import random_samples, report_lines, validate

    if args.target == "cpp_standalone" and args.mode == "continuous":
        raise InputError("eventsim validate: --mode continuous runs one Brian2 run() per sample; "
                         "use --target numpy or cython")
    if (args.input is None) == (args.random_input is None):
        raise InputError("eventsim validate: give INPUT (an event file or folder) or "
                         "--random-input N, one of them")
    files = _samples(args.input)[:args.samples] if args.input is not None else []
    if args.json is not None:
        _check_json_path(args.json, [args.net, args.reference, args.input, *files])
    net = load_network(args.net)
    reference = load_network(args.reference) if args.reference else net
    check_bridgeable(reference)
    if args.T is not None:
        check_window(args.T, args.dt_us or net.dt_us or DEFAULT_DT_US,
                     net.n_neurons,
                     "eventsim validate", ("--T", "--dt-us"))
    if args.random_input is not None:
        samples, paths = random_samples(net, args.random_input, args.T, args.rate, args.seed)
    else:
        samples = [read_events(f, sensor_size_of(net)) for f in files]
        paths = [str(f) for f in files]
    with tqdm(total=2 * len(samples), disable=len(samples) <= 1, file=sys.stderr,
              unit="sample") as bar:
        report = validate(net, samples, paths, args.mode, args.target,
                          args.dt_us, args.T, args.dt_brian_us, bar.update, reference)
    against = f"  brian2 runs: {args.reference}" if args.reference else ""
    print(f"network: {args.net}{against}  mode: {args.mode}  target: {args.target}  "
          f"dtype: float64  dt_us: {report.dt_us}")
    print("\n".join(report_lines(report, net)))
    if args.json:
        given = args.input if args.input is not None else \
            f"random: {args.random_input} samples, rate {args.rate}, seed {args.seed}"
        _write_json(args.json, {"network": args.net, "input": given, **report.to_dict()})
        print(f"wrote {args.json}")
    return 0 if report.ok else 1


def _profiles(asked: list[str] | None) -> list:
    """Energy profiles for the report, loaded (and checked) before any work is done."""
    from eventsim.metrics.energy import load_profile
    from eventsim.metrics.summary import DEFAULT_PROFILES

    return [load_profile(p) for p in (asked or DEFAULT_PROFILES)]


def _check_network_out(out: Path, inputs: list, what: str) -> None:
    """Before the work: ``out`` is none of ``inputs`` and its folder takes new files."""
    fileio.check_output(out, inputs, what)
    fileio.check_writable_folder(out.resolve().parent, what, out)


def cmd_quantize(args) -> int:
    from eventsim import load_network, save_network
    from eventsim.network.quantize import model_bytes, quantize

    _check_network_out(args.out, [args.net], "quantized network")
    net = load_network(args.net)
    q = quantize(net, args.bits, args.per_channel)
    save_network(q, args.out)
    scheme = q.provenance["quantization"]["scheme"]
    print(f"wrote {args.out}: {args.bits}-bit integer weights ({scheme}), "
          f"{model_bytes(q, args.bits)} bytes (float32: {model_bytes(net)})")
    return 0


def cmd_deploy(args) -> int:
    from eventsim import load_network
    from eventsim.deploy import deploy, load_target

    target = load_target(args.target)
    net = load_network(args.net)
    if args.report is not None:
        _check_report_path(args.report, [args.net, args.target], ("deploy.md", "deploy.json"))
    mapping = deploy(net, target)
    print(f"{args.net} on {target.name} ({target.description})")
    print(mapping.table())
    if args.report is not None:
        with fileio.atomic_folder(args.report, "deployment report") as tmp:
            (tmp / "deploy.md").write_text(f"# {args.net} on {target.name}\n\n```\n"
                                           f"{mapping.table()}\n```\n", encoding="utf-8")
            (tmp / "deploy.json").write_text(json.dumps(mapping.to_json(), indent=1),
                                             encoding="utf-8")
        print(f"report: {args.report}")
    return 0 if mapping.fits else 1


def cmd_convert(args) -> int:
    from eventsim import from_nir, load_network, save_network, to_nir

    kinds = {".nir": "nir", ".h5": "h5", ".hdf5": "h5"}
    src, dst = kinds.get(args.input.suffix.lower()), kinds.get(args.out.suffix.lower())
    if src is None or dst is None or src == dst:
        raise InputError(f"eventsim convert: converts .nir to .h5 or .h5 to .nir; got "
                         f"{args.input.name} -> {args.out.name}")
    fileio.input_path(args.input, "NIR file" if src == "nir" else "network file",
                      "eventsim convert")
    _check_network_out(args.out, [args.input], "NIR graph" if dst == "nir" else "network")
    if src == "nir":
        net = from_nir(args.input, dt_us=args.dt_us,
                       discretisation=args.discretisation or "exact", reset=args.reset,
                       tau_scale=1.0 if args.tau_scale is None else args.tau_scale)
        save_network(net, args.out)
    else:
        given = [f for f, v in (("--discretisation", args.discretisation),
                                ("--reset", args.reset), ("--tau-scale", args.tau_scale))
                 if v is not None]
        if given:
            raise InputError(f"eventsim convert: {', '.join(given)}: options for reading NIR, "
                             "not for writing it")
        net = load_network(args.input)
        try:
            to_nir(net, args.out, dt_us=args.dt_us)
        except (NetworkError, ResourceError) as err:  # name the network file as well
            raise _with_file(str(args.input), err) from None
    dt_us = net.dt_us if net.dt_us is not None else args.dt_us  # to_nir: they agree
    print(f"wrote {args.out}: input {net.input_shape}, dt_us {dt_us}, {_describe(net)}")
    return 0


def _describe(net) -> str:
    """A network's layers, or a graph's populations and projections, in one line."""
    def neurons(n) -> str:
        to = f" to {n.v_reset:.6g}" if getattr(n, "v_reset", 0.0) else ""
        syn = f", syn_decay {n.syn_decay:.6g}" if getattr(n, "syn_decay", 0.0) else ""
        syn += f", syn_decay_2 {n.syn_decay_2:.6g}" if getattr(n, "syn_decay_2", 0.0) else ""
        syn += f", adaptive threshold (decay {n.adapt_decay:.6g}, jump {n.adapt_jump:.6g})" \
            if getattr(n, "adapt_jump", 0.0) else ""
        syn += f", v_leak {n.v_leak:.6g}" if getattr(n, "v_leak", 0.0) else ""
        syn += f", refractory {n.refractory_steps} steps" \
            if getattr(n, "refractory_steps", 0) else ""
        if n.is_readout:
            return f"LI: decay {n.decay:.6g}{syn}, read out by its {n.readout}"
        return f"decay {n.decay:.6g}{syn}, {n.reset}{to}"

    if hasattr(net, "layers"):
        return "layers " + ", ".join(f"{type(lay).__name__}({neurons(lay)})"
                                     if hasattr(lay, "v_th") else type(lay).__name__
                                     for lay in net.layers)
    pops = ", ".join(f"{p.name} {p.shape} ({neurons(p)})" for p in net.populations)
    projs = ", ".join(
        f"{p.source} -> {p.target} [{' > '.join(type(op).__name__ for op in p.ops)}]"
        + (" (closes a cycle)" if net.closes_cycle(k) else "")
        for k, p in enumerate(net.projections))
    return f"populations {pops}; projections {projs}"


def cmd_demo(args) -> int:
    from eventsim.demo import run_demo

    if args.net is not None:
        fileio.input_path(args.net, "network file", "eventsim demo")
    _check_report_path(args.out, [args.net])
    run_demo(args.out, args.samples, args.net)
    return 0


def cmd_report(args) -> int:
    from eventsim.metrics.report import write_report
    from eventsim.runs import load_run

    _check_report_path(args.out, [args.result])
    print(f"report: {write_report(load_run(args.result), args.out, source=args.result)}")
    return 0


#: Signals that stop a command the way Ctrl-C does: temporary files removed, exit 128 + N.
STOP_SIGNALS = fileio.STOP_SIGNALS


def _on_stop_signal(signum, frame) -> None:
    """Raise where the program is, so that every ``with`` block (the atomic writes) cleans up;
    while native code writes a file (:func:`eventsim.fileio.deferred_signals`) only remember
    it: the write's block raises when it ends. Remembered, a write whose library swallowed
    the exception still stops (:func:`eventsim.fileio.commit` checks before it renames)."""
    fileio.note_stop_signal(signum)
    if fileio.in_critical_section():
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _redeliver(unraisable) -> None:
    """``sys.unraisablehook`` of the command line: a stop signal's exception that Python could
    not raise where it landed (in a weakref or garbage-collector callback, which print
    "Exception ignored" and go on) is delivered again, so that it lands in the program and
    stops it; any other goes to Python's hook."""
    stop = unraisable.exc_value
    if isinstance(stop, (KeyboardInterrupt, SystemExit)) and fileio.stop_signal_noted():
        signal.raise_signal(fileio.stop_signal_noted())
        return
    sys.__unraisablehook__(unraisable)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, ``eventsim: warning: ...`` (not Python's two, with a source
    line the user did not write)."""
    kind = "" if issubclass(category, EventsimWarning) else f"{category.__name__}: "
    print(f"eventsim: warning: {kind}{message}", file=sys.stderr if file is None else file)


def _error_line(err: BaseException) -> str:
    if isinstance(err, OSError) and not isinstance(err, EventsimError) and err.filename:
        return f"{err.filename}: {err.strerror or err}"
    if isinstance(err, MemoryError):
        return ("out of memory (MemoryError); eventsim checks its large allocations against "
                "the memory available (EVENTSIM_MAX_MEMORY sets a budget): this one was not "
                "foreseen, please report it with --debug")
    return str(err)


def main(argv: list[str] | None = None) -> int:
    """The command line: one ``eventsim: error: ...`` line and exit status 1 for every bad
    input, exit 130 (128 + the signal) when stopped by Ctrl-C, SIGTERM or SIGHUP."""
    previous = {}
    if argv is None:  # the console command: this process is ours to handle signals in
        # a signal the caller ignores stays ignored (nohup's SIGHUP, a background job's SIGINT)
        previous = {sig: signal.signal(sig, _on_stop_signal) for sig in STOP_SIGNALS
                    if signal.getsignal(sig) is not signal.SIG_IGN}
    shown, unraisable = warnings.showwarning, sys.unraisablehook
    warnings.showwarning = _warning_line
    if argv is None:
        sys.unraisablehook = _redeliver
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("eventsim: interrupted; nothing half-written was left", file=sys.stderr)
        return _stopped(argv, 128 + signal.SIGINT)
    except SystemExit as stop:
        if isinstance(stop.code, int) and stop.code - 128 in STOP_SIGNALS:
            name = signal.Signals(stop.code - 128).name
            print(f"eventsim: stopped by {name}; nothing half-written was left", file=sys.stderr)
            return _stopped(argv, stop.code)
        raise
    finally:
        warnings.showwarning, sys.unraisablehook = shown, unraisable
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        fileio.clear_stop_signal()


def _stopped(argv: list[str] | None, code: int) -> int:
    """The exit status of a stopped command. The console command ends here and now
    (``os._exit``, after flushing its output): every file it wrote is complete or removed, and
    an HDF5 object a stopped library left behind can crash the interpreter's shutdown."""
    if argv is not None:
        return code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        if "--debug" in (sys.argv[1:] if argv is None else argv):
            raise
        print(f"eventsim: error: {err}", file=sys.stderr)
        return 1
    if args.version:
        from eventsim import __version__

        print(f"eventsim {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        commands = {"run": cmd_run, "train": cmd_train, "validate": cmd_validate,
                    "report": cmd_report, "demo": cmd_demo, "quantize": cmd_quantize,
                    "convert": cmd_convert, "deploy": cmd_deploy}
        return commands[args.command](args)
    except (EventsimError, OSError, MemoryError) as err:
        if getattr(args, "debug", False):
            raise
        print(f"eventsim: error: {_error_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
