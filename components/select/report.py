"""The selection report: Markdown (what the KFP UI shows), one self-contained HTML page (charts
inlined, for a browser) and the PNG charts (matplotlib, Agg): per-candidate metrics, training
curves, the winner's confusion matrix, the blessing decision against the baseline, the dataset."""

import base64
import html
import io
import os
import uuid
from pathlib import Path

from distml.components.common.files import write_text_atomic

REPORT_FILE = "report.md"
HTML_REPORT_FILE = "report.html"
METRIC_CHART = "metric_by_candidate.png"
CURVES_CHART = "training_curves.png"
CONFUSION_CHART = "confusion_matrix.png"
CHARTS = (METRIC_CHART, CURVES_CHART, CONFUSION_CHART)
CHART_TITLES = {
    METRIC_CHART: "Metric by candidate",
    CURVES_CHART: "Training curves",
    CONFUSION_CHART: "Confusion matrix of the winner",
}


def write_report(selection, output_dir):
    """Write report.md, report.html and the charts into `output_dir`; return the report's Markdown."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pngs = render_charts(selection)
    for name, data in pngs.items():
        _write_bytes_atomic(output_dir / name, data)
    markdown = render_markdown(selection, charts=tuple(pngs))
    write_text_atomic(output_dir / HTML_REPORT_FILE, render_html(selection, pngs))
    write_text_atomic(output_dir / REPORT_FILE, markdown)
    return markdown


def render_charts(selection):
    """{chart file name: PNG bytes}; no training curves when no candidate recorded its history."""
    figures = {
        METRIC_CHART: metric_chart(selection),
        CURVES_CHART: curves_chart(selection),
        CONFUSION_CHART: confusion_chart(selection),
    }
    return {name: _png(fig) for name, fig in figures.items() if fig is not None}


def render_markdown(selection, charts=(METRIC_CHART, CONFUSION_CHART)):
    metric = selection["metric"]
    winner = _winner(selection)
    lines = [f"# Model selection: {selection['model_name']}", ""]
    pushed = selection["pushed"]
    if selection["blessed"] and pushed:
        lines.append(
            f"**Winner: {winner['name']}**, blessed and pushed as version {pushed['version']} (`{pushed['path']}`)."
        )
    elif selection["blessed"]:
        lines.append(f"**Winner: {winner['name']}**, blessed; not pushed (no model repository given).")
    else:
        lines.append(f"**Winner: {winner['name']}**, not blessed: {selection['reason']}. Nothing was pushed.")
    dataset = selection["dataset"]
    direction = "higher" if selection["higher_is_better"] else "lower"
    lines += [
        "",
        f"Evaluated on the `{dataset['split']}` split of `{dataset['name']}` ({dataset['num_examples']} examples, "
        f"fingerprint `{dataset['fingerprint'][:12]}`), through each model's `serving_default` signature. "
        f"Chosen by `{metric}` ({direction} is better).",
        "",
        "## Candidates",
        "",
        "| rank | candidate | accuracy | loss | macro precision | macro recall | macro F1 | workers | train s | model |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for rank, candidate in enumerate(_ranked(selection), 1):
        lines.append(_metrics_row(str(rank), candidate["name"], candidate))
    if selection["baseline"]:
        baseline = selection["baseline"]
        lines.append(_metrics_row("baseline", f"{baseline['name']} ({baseline['source']})", baseline))
    lines += ["", "## Blessing", ""]
    for check in selection["checks"]:
        lines.append(f"- {'passed' if check['passed'] else 'FAILED'}: {check['detail']}")
    lines.append(f"- {baseline_comparison(selection)}")
    lines += ["", "## Dataset", ""] + [f"- {key}: {value}" for key, value in dataset_summary(selection)]
    lines += [
        "",
        f"## {winner['name']} per class",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in winner["per_class"]:
        lines.append(
            f"| {row['class']} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |"
        )
    names = selection["class_names"]
    lines += [
        "",
        f"## Confusion matrix of {winner['name']} (rows: true class, columns: predicted)",
        "",
        "| true \\ predicted | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for name, row in zip(names, winner["confusion_matrix"]):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    for chart in charts:
        lines += ["", f"![{CHART_TITLES[chart]}]({chart})"]
    lines.append("")
    return "\n".join(lines)


def decision(selection):
    """One sentence: the winner, blessed or not, pushed or not."""
    winner, pushed = selection["winner"], selection["pushed"]
    if selection["blessed"] and pushed:
        return f"Winner: {winner}, blessed and pushed as version {pushed['version']} ({pushed['path']})."
    if selection["blessed"]:
        return f"Winner: {winner}, blessed; not pushed (no model repository given)."
    return f"Winner: {winner}, not blessed: {selection['reason']}. Nothing was pushed."


def baseline_comparison(selection):
    metric = selection["metric"]
    baseline = selection["baseline"]
    if not baseline:
        return f"no baseline: {selection['baseline_note']}"
    ours, theirs = _winner(selection)["metrics"][metric], baseline["metrics"][metric]
    return (
        f"against the baseline {baseline['name']} ({baseline['source']}): {metric} {ours:.4f} vs {theirs:.4f} "
        f"({ours - theirs:+.4f}; --min-improvement {selection['thresholds']['min_improvement']:g})"
    )


def dataset_summary(selection):
    """(label, value) rows describing the evaluation data."""
    d = selection["dataset"]
    rows = [
        ("source", d.get("source") or d["name"]),
        ("name, version", f"{d['name']} {d['version']}"),
        ("fingerprint", d["fingerprint"][:12]),
        ("classes", f"{len(selection['class_names'])}: {', '.join(selection['class_names'])}"),
    ]
    if d.get("image_shape"):
        rows.append(("image shape", " x ".join(map(str, d["image_shape"]))))
    if d.get("preprocessing"):
        p = d["preprocessing"]
        rows.append(
            (
                "preprocessing",
                f"{'grayscale' if p['channels'] == 1 else 'RGB'}, {p['resample']} resize to "
                f"{p['width']}x{p['height']} (serving applies the same)",
            )
        )
    if d.get("splits"):
        rows.append(("examples", ", ".join(f"{name} {n}" for name, n in d["splits"].items())))
    rows.append(("evaluated on", f"{d['split']} ({d['num_examples']} examples)"))
    return rows


def metric_chart(selection):
    from matplotlib.figure import Figure

    metric = selection["metric"]
    entries = _ranked(selection)
    labels = [c["name"] for c in entries]
    values = [c["metrics"][metric] for c in entries]
    colors = ["tab:green" if c["name"] == selection["winner"] else "tab:blue" for c in entries]
    if selection["baseline"]:
        labels.append("baseline")
        values.append(selection["baseline"]["metrics"][metric])
        colors.append("tab:gray")
    fig = Figure(figsize=(7, 1.2 + 0.5 * len(labels)))
    ax = fig.add_subplot()
    y = list(range(len(labels)))[::-1]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels)
    for yi, value in zip(y, values):
        ax.text(value, yi, f" {value:.4f}", va="center")
    if metric == "accuracy" and selection["thresholds"]["min_accuracy"] > 0:
        ax.axvline(selection["thresholds"]["min_accuracy"], color="tab:red", linestyle="--", label="--min-accuracy")
        # Above the axes, beside the title: inside them it would cover a bar's value label.
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, borderaxespad=0.2)
    if metric != "loss":
        ax.set_xlim(0, 1.15)
    else:
        ax.set_xlim(0, max(values) * 1.25 or 1)
    ax.set_xlabel(f"{metric} ({'higher' if selection['higher_is_better'] else 'lower'} is better)")
    ax.set_title(f"{metric} on {selection['dataset']['split']}; winner in green", loc="left")
    fig.tight_layout()
    return fig


def curves_chart(selection):
    """Loss and accuracy per epoch of every candidate, train (solid) and validation (dashed)."""
    from matplotlib.figure import Figure

    entries = [c for c in _ranked(selection) if (c.get("training") or {}).get("history")]
    if not entries:
        return None
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    colors = [f"C{i}" for i in range(10)]
    for i, candidate in enumerate(entries):
        history = candidate["training"]["history"]
        epochs = [e["epoch"] for e in history]
        for ax, key in zip(axes, ("loss", "accuracy")):
            ax.plot(
                epochs, [e[key] for e in history], color=colors[i % 10], marker="o", label=f"{candidate['name']} train"
            )
            validation = [(e["epoch"], e[f"val_{key}"]) for e in history if f"val_{key}" in e]
            if validation:
                ax.plot(
                    *zip(*validation),
                    color=colors[i % 10],
                    marker="s",
                    linestyle="--",
                    label=f"{candidate['name']} validation ({history[-1].get('val_split', 'held out')})",
                )
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(f"{key} per epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def confusion_chart(selection):
    from matplotlib.figure import Figure

    winner = _winner(selection)
    matrix = winner["confusion_matrix"]
    names = selection["class_names"]
    size = max(4.0, 0.6 * len(names) + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    largest = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                ax.text(
                    j,
                    i,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if count > largest / 2 else "black",
                )
    ax.set_title(f"{winner['name']}: confusion matrix")
    fig.tight_layout()
    return fig


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def save_png(fig, path):
    """A figure as a PNG file, written atomically (the monitor's report uses it too)."""
    _write_bytes_atomic(Path(path), _png(fig))


def _write_bytes_atomic(path, data):
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def data_uri(png):
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _ranked(selection):
    by_name = {c["name"]: c for c in selection["candidates"]}
    return [by_name[name] for name in selection["ranking"]]


def _winner(selection):
    return next(c for c in selection["candidates"] if c["name"] == selection["winner"])


def _metrics_row(rank, name, entry):
    m = entry["metrics"]
    training = entry.get("training") or {}
    workers = training.get("num_workers", "")
    train_s = f"{training['wall_time_s']:.1f}" if isinstance(training.get("wall_time_s"), (int, float)) else ""
    return (
        f"| {rank} | {name} | {m['accuracy']:.4f} | {m['loss']:.4f} | {m['macro_precision']:.4f} | "
        f"{m['macro_recall']:.4f} | {m['macro_f1']:.4f} | {workers} | {train_s} | `{entry['model_dir']}` |"
    )


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.decision { padding: 0.8em 1em; border-radius: 6px; font-size: 1.1em; }
.blessed { background: #e6f4ea; border: 1px solid #34a853; } .not-blessed { background: #fce8e6; border: 1px solid #d93025; }
table { border-collapse: collapse; margin: 0.5em 0; } th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } tr.winner { font-weight: bold; background: #f3faf5; }
code { font-size: 0.9em; } img { max-width: 100%; display: block; margin: 0.5em 0; }
"""


def render_html(selection, pngs):
    """One self-contained page: every chart inlined as a data URI, no external resource."""
    e = html.escape
    metric = selection["metric"]
    winner = _winner(selection)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Model selection: {e(selection['model_name'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Model selection: {e(selection['model_name'])}</h1>",
        f'<p class="decision {"blessed" if selection["blessed"] else "not-blessed"}">{e(decision(selection))}</p>',
        f"<p>Chosen by <code>{e(metric)}</code> ({'higher' if selection['higher_is_better'] else 'lower'} is better) "
        f"on the <code>{e(selection['dataset']['split'])}</code> split, through each model's serving signature.</p>",
        "<h2>Candidates</h2><table><tr><th>rank</th><th>candidate</th><th>accuracy</th><th>loss</th>"
        "<th>macro precision</th><th>macro recall</th><th>macro F1</th><th>workers</th><th>train s</th><th>epochs</th></tr>",
    ]
    rows = [(str(rank), c["name"], c) for rank, c in enumerate(_ranked(selection), 1)]
    if selection["baseline"]:
        b = selection["baseline"]
        rows.append(("baseline", f"{b['name']} ({b['source']})", b))
    for rank, name, entry in rows:
        m, training = entry["metrics"], entry.get("training") or {}
        train_s = f"{training['wall_time_s']:.1f}" if isinstance(training.get("wall_time_s"), (int, float)) else ""
        cells = [f"{m[k]:.4f}" for k in ("accuracy", "loss", "macro_precision", "macro_recall", "macro_f1")]
        cells += [str(training.get("num_workers", "")), train_s, str(len(training.get("history") or []) or "")]
        css = ' class="winner"' if name == selection["winner"] else ""
        parts.append(
            f"<tr{css}><td>{e(rank)}</td><td>{e(name)}</td>"
            + "".join(f'<td class="num">{c}</td>' for c in cells)
            + "</tr>"
        )
    parts.append("</table>")
    parts.append("<h2>Blessing</h2><ul>")
    for check in selection["checks"]:
        parts.append(f"<li>{'passed' if check['passed'] else '<b>FAILED</b>'}: {e(check['detail'])}</li>")
    parts.append(f"<li>{e(baseline_comparison(selection))}</li></ul>")
    for chart in CHARTS:
        if chart in pngs:
            parts.append(
                f'<h2>{e(CHART_TITLES[chart])}</h2><img src="{data_uri(pngs[chart])}" alt="{e(CHART_TITLES[chart])}">'
            )
    parts.append(
        f"<h2>{e(winner['name'])} per class</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
    )
    for row in winner["per_class"]:
        parts.append(
            f"<tr><td>{e(str(row['class']))}</td>"
            + "".join(f'<td class="num">{row[k]:.4f}</td>' for k in ("precision", "recall", "f1"))
            + f'<td class="num">{row["support"]}</td></tr>'
        )
    parts.append("</table><h2>Dataset</h2><table>")
    for key, value in dataset_summary(selection):
        parts.append(f"<tr><th>{e(key)}</th><td>{e(str(value))}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"
