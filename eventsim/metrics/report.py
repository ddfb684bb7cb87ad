"""``eventsim report``: an HTML page with PNG figures, and the tables in Markdown and JSON.

Draws from the ``"metrics"`` section a run's JSON carries (:func:`eventsim.metrics.summary.
summarize`): the first sample's input frame and spike raster, firing rate and sparsity per
layer, SOPs per layer and per step, energy against the equivalent ANN under the run's
profiles, and accuracy against the number of steps simulated. matplotlib is imported here
only, with its non-interactive backend.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from eventsim.errors import InputError, quoted
from eventsim.fileio import atomic_folder


def write_report(run: dict, out: str | Path, source: str | Path | None = None) -> Path:
    """Write ``index.html``, the PNG figures, ``metrics.md`` and ``metrics.json`` into the
    folder ``out``; returns the path of ``index.html``.

    The folder is created if missing (not its parent: a mistyped path is an error, not a tree
    of new folders). The files are written into a temporary folder beside it and moved in
    only once all are complete (:func:`eventsim.fileio.atomic_folder`): a failure (a full
    disk, Ctrl-C) leaves ``out`` as it was; other files in ``out`` are kept.

    ``source``: the JSON file ``run`` was read from; a section of it that cannot be drawn (a
    field of the wrong type) is then an :class:`InputError` naming it.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    out = Path(out)
    m = run["metrics"]
    try:
        return _write_report(run, m, out, matplotlib)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
        if source is None:  # a run of eventsim's own: a bug, shown as such
            raise
        raise InputError(f"{source}: not the JSON of `eventsim run --json`: its metrics cannot "
                         f"be drawn ({type(err).__name__}: {quoted(err)})") from err


def _write_report(run: dict, m: dict, out: str | Path, matplotlib) -> Path:
    with atomic_folder(out, "report") as tmp:
        drawn = {}
        for name, draw in _DRAW.items():
            fig = draw(m)
            if fig is not None:
                try:
                    fig.savefig(tmp / f"{name}.png", dpi=110, bbox_inches="tight")
                finally:
                    matplotlib.pyplot.close(fig)
                drawn[name] = f"{name}.png"
        tables = _tables(m)
        (tmp / "metrics.md").write_text(tables["markdown"], encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(m, indent=1), encoding="utf-8")
        (tmp / "index.html").write_text(_html(run, drawn, tables), encoding="utf-8")
    return out / "index.html"


# --- figures ---------------------------------------------------------------------------------


def _label(m, x) -> str:
    """How a layer is named: its index in a chain, a graph population's name."""
    return x["name"] if "projections" in m else x["layer"]


def _names(m):
    return [f"{_label(m, x)}: {x['kind']}" for x in m["layers"]]


def _fig_input(m):
    import matplotlib.pyplot as plt

    if "input_frame" not in m:
        return None
    frame = np.asarray(m["input_frame"], float)  # (P, H, W)
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    if frame.shape[0] == 2:
        rgb = np.zeros((*frame.shape[1:], 3))
        scale = max(frame.max(), 1.0)
        rgb[..., 0], rgb[..., 2] = frame[1] / scale, frame[0] / scale
        ax.imshow(np.clip(rgb * 1.5, 0, 1), interpolation="nearest")
        ax.set_title("input events of sample 0\n(red: ON, blue: OFF)")
    else:
        im = ax.imshow(frame.sum(0), cmap="magma", interpolation="nearest")
        fig.colorbar(im, ax=ax, label="events")
        ax.set_title("input events of sample 0")
    ax.set_xlabel("x (pixel)")
    ax.set_ylabel("y (pixel)")
    return fig


def _fig_raster(m):
    import matplotlib.pyplot as plt

    if "raster" not in m:
        return None
    layers = [np.asarray(r, np.int64).reshape(-1, 2) for r in m["raster"]]
    names = _names(m)
    fig, axes = plt.subplots(len(layers), 1, figsize=(7.5, 1.6 + 1.5 * len(layers)),
                             sharex=True, squeeze=False)
    T = m["T"][0]
    for ax, spikes, name, info in zip(axes[:, 0], layers, names, m["layers"]):
        ax.scatter(spikes[:, 0], spikes[:, 1], s=2 if len(spikes) < 20000 else 0.3,
                   marker="|" if len(spikes) < 20000 else ".", color="black", linewidths=0.6)
        ax.set_ylim(-0.5, info["neurons"] - 0.5)
        ax.set_xlim(-0.5, T - 0.5)
        ax.set_ylabel(f"{name}\nneuron", fontsize=8)
        ax.text(0.995, 0.96, f"{len(spikes)} spikes", transform=ax.transAxes, ha="right",
                va="top", fontsize=8, bbox={"facecolor": "white", "alpha": 0.7, "lw": 0})
    axes[0, 0].set_title("spike raster of sample 0")
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    return fig


def _fig_activity(m):
    import matplotlib.pyplot as plt

    names = _names(m)
    rate = [x["firing_rate"] for x in m["layers"]]
    sparsity = [x["activation_sparsity"] for x in m["layers"]]
    silent = [x["silent_fraction"] for x in m["layers"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    y = np.arange(len(names))
    a.barh(y, rate, color="tab:orange")
    a.set_yticks(y, names)
    a.invert_yaxis()
    a.set_xlabel("spikes per neuron per step")
    a.set_title("firing rate")
    b.barh(y - 0.2, sparsity, height=0.4, label="activation sparsity", color="tab:blue")
    b.barh(y + 0.2, silent, height=0.4, label="silent neurons", color="tab:gray")
    b.set_yticks(y, names)
    b.invert_yaxis()
    b.set_xlim(0, 1.05)
    b.set_xlabel("fraction")
    b.set_title("sparsity")
    b.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8)
    fig.tight_layout()
    return fig


def _fig_sops(m):
    import matplotlib.pyplot as plt

    names = _names(m)
    n = m["samples"]
    per_sample = [x["effective_acs"] / n for x in m["layers"]]
    per_step = m.get("per_step")
    fig, axes = plt.subplots(1, 2 if per_step else 1, figsize=(10, 3.6), squeeze=False)
    a = axes[0, 0]
    y = np.arange(len(names))
    a.barh(y, per_sample, color="tab:green")
    a.set_yticks(y, names)
    a.invert_yaxis()
    a.set_xlabel("SOPs per sample (effective ACs)")
    a.set_title("synaptic operations per layer")
    if per_step:
        b = axes[0, 1]
        for name, row in zip(names, per_step["effective_acs"]):
            b.plot(np.asarray(row) / n, label=name, lw=1.2)
        b.set_xlabel("step")
        b.set_ylabel("SOPs per sample")
        b.set_title("synaptic operations per step")
        b.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _fig_energy(m):
    import matplotlib.pyplot as plt

    energy = m["energy"]
    if not energy:
        return None
    names = ["total", *_names(m)]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    bars, labels = [], []
    for profile, e in energy.items():
        snn = np.asarray(e["snn_pj_per_sample"])
        bars.append(np.r_[snn.sum(), snn])
        labels.append(f"SNN, {profile}")
        if all(v is not None for v in e["ann_pj_per_sample"]):
            ann = np.asarray(e["ann_pj_per_sample"], float)
            bars.append(np.r_[ann.sum(), ann])
            labels.append(f"ANN, {profile}")
    width = 0.8 / len(bars)
    x = np.arange(len(names))
    for k, (values, label) in enumerate(zip(bars, labels)):
        ax.bar(x + (k - (len(bars) - 1) / 2) * width, np.maximum(values, 1e-3), width,
               label=label, hatch="//" if label.startswith("ANN") else None, alpha=0.9)
    ax.set_yscale("log")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("pJ per sample")
    ax.set_title("energy estimate: SNN (from the run's counts) against the equivalent ANN")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _fig_accuracy(m):
    import matplotlib.pyplot as plt

    acc = m.get("accuracy_vs_steps")
    if not acc:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.4))
    steps = np.arange(1, len(acc) + 1)
    ax.plot(steps, np.asarray(acc) * 100, marker="o", ms=3)
    ax.set_xlabel("steps simulated")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.set_title("accuracy against steps (early exit)")
    return fig


_DRAW = {"input": _fig_input, "raster": _fig_raster, "activity": _fig_activity,
         "sops": _fig_sops, "energy": _fig_energy, "accuracy": _fig_accuracy}
#: The figures, in the order of the page.
FIGURES = tuple(_DRAW)
#: Every file a report may write into its folder.
REPORT_FILES = ("index.html", "metrics.md", "metrics.json", *(f"{f}.png" for f in FIGURES))


# --- tables and page -------------------------------------------------------------------------


def _tables(m) -> dict:
    n = m["samples"]
    head = ["layer", "kind", "neurons", "spikes/sample", "firing rate", "activation sparsity",
            "silent", "SOPs/sample", "MACs/sample", "updates/sample", "dense ops/sample",
            "ANN MACs/sample", "connection sparsity"]
    rows = [[_label(m, x), x["kind"], x["neurons"], f"{x['spikes'] / n:.4g}",
             f"{x['firing_rate']:.4g}", f"{x['activation_sparsity']:.4f}",
             f"{x['silent_fraction']:.3f}", f"{x['effective_acs'] / n:.4g}",
             f"{x['effective_macs'] / n:.4g}", f"{x['membrane_updates'] / n:.4g}",
             f"{x['dense_ops'] / n:.4g}", f"{x['ann_macs'] / n:.4g}",
             f"{x['connection_sparsity']:.3f}"] for x in m["layers"]]
    e_head = ["profile", "SNN pJ/sample", "ANN pJ/sample", "SNN / ANN"]
    e_rows = []
    for profile, e in m["energy"].items():
        snn = sum(e["snn_pj_per_sample"])
        ann = None if None in e["ann_pj_per_sample"] else sum(e["ann_pj_per_sample"])
        e_rows.append([profile, f"{snn:.4g}", "-" if ann is None else f"{ann:.4g}",
                       "-" if not ann else f"{snn / ann:.3g}"])
    md = ["# eventsim report", "", _md(head, rows), "", "## Energy", "", _md(e_head, e_rows)]
    p_head = ["projection", "source", "target", "recurrent", "SOPs/sample", "connections",
              "connection sparsity"]
    p_rows = [[x["projection"], x["source"], x["target"], "yes" if x["recurrent"] else "no",
               f"{x['effective_acs'] / n:.4g}", x["connections"],
               f"{x['connection_sparsity']:.3f}"] for x in m.get("projections", [])]
    if p_rows:
        md[3:3] = ["", "## Per projection", "", _md(p_head, p_rows)]
    return {"head": head, "rows": rows, "e_head": e_head, "e_rows": e_rows, "p_head": p_head,
            "p_rows": p_rows, "markdown": "\n".join(md) + "\n"}


def _md(head, rows) -> str:
    lines = ["| " + " | ".join(map(str, head)) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def _table_html(head, rows) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _html(run: dict, drawn: dict, tables: dict) -> str:
    m = run["metrics"]
    title = html.escape(str(run.get("network", "network")))
    facts = [f"input: {html.escape(str(run.get('input', '-')))}",
             f"samples: {m['samples']}", f"mode: {html.escape(str(run.get('mode', '-')))}",
             f"dtype: {html.escape(str(run.get('dtype', '-')))}",
             f"dt_us: {run.get('dt_us')}"]
    if run.get("accuracy") is not None:
        facts.append(f"accuracy: {100 * run['accuracy']:.2f}%")
    latency = [x for x in m.get("decision_latency_steps", []) if x is not None]
    if latency:
        facts.append(f"median latency to decision: {int(np.median(latency))} steps")
    if "per_step_omitted" in m:
        facts.append(html.escape(m["per_step_omitted"]))
    if "decisions_omitted" in m:
        facts.append(html.escape(m["decisions_omitted"]))
    sources = "".join(
        f"<li><b>{html.escape(p)}</b> ({html.escape(e['description'])}): "
        + "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in e["sources"].items())
        + "</li>" for p, e in m["energy"].items())
    captions = {"input": "Input", "raster": "Spike raster", "activity": "Activity and sparsity",
                "sops": "Synaptic operations", "energy": "Energy",
                "accuracy": "Accuracy against steps"}
    figures = "".join(f"<h2>{captions[k]}</h2><img src='{v}' alt='{captions[k]}'>"
                      for k, v in drawn.items())
    projections = (f"<h2>Per projection</h2>{_table_html(tables['p_head'], tables['p_rows'])}"
                   if tables["p_rows"] else "")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
             "padding:3px 6px;text-align:right}th{background:#f3f3f3}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>eventsim report: {title}"
            f"</title><style>{style}</style></head><body><h1>eventsim report: {title}</h1>"
            f"<p>{' &middot; '.join(facts)}</p><h2>Per layer</h2>"
            f"{_table_html(tables['head'], tables['rows'])}{projections}"
            f"<h2>Energy per sample</h2>{_table_html(tables['e_head'], tables['e_rows'])}"
            f"<p>Estimates from the run's operation counts; profiles:</p><ul>{sources}</ul>"
            f"{figures}<p>Tables also in <a href='metrics.md'>metrics.md</a> and "
            f"<a href='metrics.json'>metrics.json</a>.</p></body></html>")
