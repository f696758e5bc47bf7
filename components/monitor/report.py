"""The drift report for people: report.md with a score table and two PNG charts
(matplotlib, Agg), rendered in the KFP UI as a Markdown artifact."""

import numpy as np

from distml.components.common.files import write_text_atomic
from distml.components.select.report import save_png

REPORT_FILE = "report.md"
DISTRIBUTIONS_CHART = "distributions.png"
SCORES_CHART = "psi_by_feature.png"


def write_report(report, output_dir):
    output_dir.mkdir(parents=True, exist_ok=True)
    save_png(distributions_chart(report), output_dir / DISTRIBUTIONS_CHART)
    save_png(scores_chart(report), output_dir / SCORES_CHART)
    markdown = render_markdown(report)
    write_text_atomic(output_dir / REPORT_FILE, markdown)
    return markdown


def render_markdown(report):
    ref, cur, th = report["reference"], report["current"], report["thresholds"]
    verdict = {
        "drift": "**Drift detected: retrain.**",
        "no drift": "**No drift: keep the served model.**",
        "insufficient data": "**Not enough data to decide.**",
    }[report["status"]]
    lines = [
        "# Drift report",
        "",
        f"{verdict} {report['reason']}.",
        "",
        f"- reference: `{ref['dataset']}` (fingerprint `{ref['fingerprint'][:12]}`, {ref['num_images']} images)"
        + (f"; predictions of `{ref['model']}` on `{ref['prediction_split']}`" if ref["model"] else "; no model given"),
        f"- current: `{cur['source']}`: {cur['num_images']} images"
        + (f" in {cur['num_requests']} requests" if cur["num_requests"] is not None else "")
        + f", {cur['num_predictions']} predictions"
        + (f" (model versions: {_versions(cur['versions'])})" if cur["versions"] else ""),
    ]
    if cur.get("unpaired_events"):
        lines.append(
            f"- {cur['unpaired_events']} logger events had no matching request or response (dropped by the sink, or a failed request)"
        )
    if cur["skipped"]:
        lines.append(f"- {cur['skipped']} log entries could not be read (first: {cur['skipped_first'][0]})")
    lines += [
        f"- thresholds: a feature drifts when PSI >= {th['psi']} and its test's p < {th['alpha_per_test']:.2g} "
        f"(alpha {th['alpha']} over the tests, Bonferroni); accuracy drop > {th['max_accuracy_drop']}; "
        f"at least {th['min_samples']} images to decide",
        "",
        "## Features",
        "",
        "| feature | group | PSI | test | statistic | p-value | reference mean | current mean | drifted |",
        "|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for f in report["features"]:
        lines.append(
            f"| {f['name']} | {f['group']} | {_num(f['psi'], 3)} | {f['test'] or '-'} | {_num(f['statistic'], 3)} | "
            f"{_p(f['p_value'])} | {_num(f['reference_mean'], 4)} | "
            f"{_num(f['current_mean'], 4)} | {'**yes**' if f['drifted'] else 'no'} |"
        )
    lines += [
        "",
        "PSI: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift. "
        "See docs/monitoring.md for what each feature measures and how to tune the thresholds.",
        "",
        f"![PSI by feature]({SCORES_CHART})",
        "",
        f"![reference and current distributions]({DISTRIBUTIONS_CHART})",
        "",
    ]
    return "\n".join(lines)


def _versions(versions):
    return ", ".join(f"{version or '?'}: {count}" for version, count in versions.items())


def _p(p_value):
    return "-" if p_value is None else f"{p_value:.2g}"


def _num(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"


def scores_chart(report):
    from matplotlib.figure import Figure

    rows = [f for f in report["features"] if f["psi"] is not None]
    fig = Figure(figsize=(7, 1.2 + 0.45 * len(rows)))
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]
    ax.barh(y, [f["psi"] for f in rows], color=["tab:red" if f["drifted"] else "tab:blue" for f in rows])
    ax.set_yticks(y, [f["name"] for f in rows])
    ax.axvline(report["thresholds"]["psi"], color="tab:red", linestyle="--", label="--psi-threshold")
    ax.set_xlabel("population stability index (drifted in red)")
    # Above the plot: inside it, the legend hid the end of a long bar.
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, borderaxespad=0.2)
    fig.tight_layout()
    return fig


def distributions_chart(report):
    from matplotlib.figure import Figure

    ref, cur = report["histograms"]["reference"], report["histograms"]["current"]
    panels = [(name, ref["inputs"][name], cur["inputs"][name], (0, 1)) for name in ref["inputs"]]
    panels.append(("pixel_intensity", ref["pixel_intensity"], cur["pixel_intensity"], (0, 256)))
    if "confidence" in ref and "confidence" in cur:
        panels.append(("confidence", ref["confidence"], cur["confidence"], (0, 1)))
    categorical = [
        (name, ref[name], cur[name]) for name in ("predicted_class", "label_class") if ref.get(name) and cur.get(name)
    ]
    count = len(panels) + len(categorical)
    cols = 3
    rows = -(-count // cols)
    fig = Figure(figsize=(4 * cols, 2.8 * rows))
    for i, (name, r, c, (low, high)) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        edges = np.linspace(low, high, len(r) + 1)
        for hist, label, color in ((r, "reference", "tab:gray"), (c, "current", "tab:orange")):
            hist = np.asarray(hist, dtype=float)
            if hist.sum():
                ax.stairs(hist / hist.sum(), edges, label=label, color=color, fill=label == "reference", alpha=0.6)
        ax.set_title(name)
        ax.legend(fontsize=7)
    names = report["class_names"]
    for j, (name, r, c) in enumerate(categorical):
        ax = fig.add_subplot(rows, cols, len(panels) + j + 1)
        x = np.arange(len(r))
        r, c = np.asarray(r, float), np.asarray(c, float)
        ax.bar(x - 0.2, r / max(r.sum(), 1), 0.4, label="reference", color="tab:gray")
        ax.bar(x + 0.2, c / max(c.sum(), 1), 0.4, label="current", color="tab:orange")
        ax.set_xticks(x, names, rotation=90 if len(names) > 10 else 0, fontsize=7)
        ax.set_title(name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
