"""The selection report: Markdown with the comparison table, and PNG charts (matplotlib, Agg)."""

import os
import uuid
from pathlib import Path

from distml.components.common.files import write_text_atomic

REPORT_FILE = "report.md"
METRIC_CHART = "metric_by_candidate.png"
CONFUSION_CHART = "confusion_matrix.png"


def write_report(selection, output_dir):
    """Write report.md and the charts into `output_dir`; return the report's Markdown."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _save(metric_chart(selection), output_dir / METRIC_CHART)
    _save(confusion_chart(selection), output_dir / CONFUSION_CHART)
    markdown = render_markdown(selection)
    write_text_atomic(output_dir / REPORT_FILE, markdown)
    return markdown


def render_markdown(selection):
    metric = selection["metric"]
    winner = _winner(selection)
    lines = [f"# Model selection: {selection['model_name']}", ""]
    pushed = selection["pushed"]
    if selection["blessed"] and pushed:
        lines.append(f"**Winner: {winner['name']}**, blessed and pushed as version {pushed['version']} (`{pushed['path']}`).")
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
    if not selection["baseline"]:
        lines.append(f"- no baseline: {selection['baseline_note']}")
    lines += [
        "",
        f"## {winner['name']} per class",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in winner["per_class"]:
        lines.append(f"| {row['class']} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
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
    lines += ["", f"![{metric} by candidate]({METRIC_CHART})", "", f"![confusion matrix]({CONFUSION_CHART})", ""]
    return "\n".join(lines)


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
        ax.legend(loc="lower right")
    if metric != "loss":
        ax.set_xlim(0, 1.15)
    else:
        ax.set_xlim(0, max(values) * 1.25 or 1)
    ax.set_xlabel(f"{metric} ({'higher' if selection['higher_is_better'] else 'lower'} is better)")
    ax.set_title(f"{metric} on {selection['dataset']['split']}; winner in green")
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
                ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                        color="white" if count > largest / 2 else "black")
    ax.set_title(f"{winner['name']}: confusion matrix")
    fig.tight_layout()
    return fig


def _save(fig, path):
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    return (f"| {rank} | {name} | {m['accuracy']:.4f} | {m['loss']:.4f} | {m['macro_precision']:.4f} | "
            f"{m['macro_recall']:.4f} | {m['macro_f1']:.4f} | {workers} | {train_s} | `{entry['model_dir']}` |")
