"""The selection report a person opens: charts that answer the question, one self-contained HTML
page that a real browser (headless Chromium) renders with every image loaded."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from distml.components.select.report import CHARTS, HTML_REPORT_FILE, REPORT_FILE, metric_chart, write_report

CLASSES = ["zero", "one", "two"]


def make_selection(accuracies=(0.97, 0.96), min_accuracy=0.9, baseline_accuracy=0.95):
    """A selection as select_models returns it (see components/select/core.py), built by hand."""
    names = ["cnn", "dropout", "batch_norm"][: len(accuracies)]
    candidates = []
    for name, accuracy in zip(names, accuracies):
        history = [
            {
                "epoch": e,
                "loss": 2.0 / e,
                "accuracy": accuracy - 0.3 / e,
                "val_loss": 2.2 / e,
                "val_accuracy": accuracy - 0.35 / e,
                "val_split": "test",
            }
            for e in (1, 2, 3)
        ]
        candidates.append(
            {
                "name": name,
                "model_type": name,
                "model_dir": f"/models/{name}",
                "saved_model_dir": f"/models/{name}/1",
                "training": {"num_workers": 2, "wall_time_s": 12.5, "history": history},
                "metrics": {
                    "accuracy": accuracy,
                    "loss": 0.1,
                    "macro_precision": 0.9,
                    "macro_recall": 0.9,
                    "macro_f1": 0.9,
                },
                "per_class": [{"class": c, "precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 10} for c in CLASSES],
                "confusion_matrix": [[9, 1, 0], [0, 10, 0], [1, 0, 9]],
            }
        )
    baseline = {
        "name": "distml-classifier v1",
        "source": "latest",
        "model_dir": "/repo/distml-classifier/1",
        "metrics": {
            "accuracy": baseline_accuracy,
            "loss": 0.2,
            "macro_precision": 0.8,
            "macro_recall": 0.8,
            "macro_f1": 0.8,
        },
        "training": {},
    }
    return {
        "model_name": "distml-classifier",
        "metric": "accuracy",
        "higher_is_better": True,
        "thresholds": {"min_accuracy": min_accuracy, "min_improvement": 0.0},
        "class_names": CLASSES,
        "candidates": candidates,
        "ranking": names,
        "winner": names[0],
        "confusion_matrix": candidates[0]["confusion_matrix"],
        "baseline": baseline,
        "baseline_note": None,
        "blessed": True,
        "checks": [{"check": "min_accuracy", "passed": True, "detail": "accuracy 0.97 reaches 0.9"}],
        "reason": "accuracy 0.97 reaches 0.9",
        "pushed": {
            "model_repo": "/repo",
            "model_name": "distml-classifier",
            "version": 2,
            "path": "/repo/distml-classifier/2",
        },
        "dataset": {
            "dir": "/data",
            "name": "distml_digits",
            "version": "1.0.0",
            "fingerprint": "ab" * 32,
            "split": "test",
            "num_examples": 30,
            "source": "digits",
            "splits": {"train": 120, "test": 30},
            "image_shape": [28, 28, 1],
            "preprocessing": {"height": 28, "width": 28, "channels": 1, "resample": "bilinear"},
        },
    }


def test_the_accuracy_legend_covers_no_bar_label():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = metric_chart(make_selection(accuracies=(0.99, 0.98), baseline_accuracy=0.97))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    labels = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(labels) == 3  # two candidates and the baseline
    assert not any(legend.overlaps(label) for label in labels)


def test_report_has_every_section_and_chart(tmp_path):
    selection = make_selection()
    markdown = write_report(selection, tmp_path)
    assert (tmp_path / REPORT_FILE).read_text() == markdown
    for chart in CHARTS:
        assert (tmp_path / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({chart})" in markdown
    page = (tmp_path / HTML_REPORT_FILE).read_text()
    for text in (
        "Candidates",
        "Training curves",
        "Confusion matrix of the winner",
        "Blessing",
        "Dataset",
        "against the baseline distml-classifier v1 (latest): accuracy 0.9700 vs 0.9500 (+0.0200",
        "Winner: cnn, blessed and pushed as version 2",
        "train 120, test 30",
        "bilinear resize to 28x28",
    ):
        assert text in page, text
    # Self-contained: every image inlined, nothing fetched from anywhere.
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(CHARTS) and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(src|href)="(https?:|//|file:)', page)


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:  # in CI (CI=true) this skip fails the run: .ci/run installs chromium
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def run_chromium(tmp_path, *args):
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_html_report_renders_in_a_real_browser_with_every_image_loaded(tmp_path):
    write_report(make_selection(), tmp_path / "report")
    page = (tmp_path / "report" / HTML_REPORT_FILE).read_text()
    # A copy with a probe that records, once loaded, each image's decoded width (0: broken).
    probe = (
        "<script>window.addEventListener('load', () => { document.body.setAttribute('data-widths', "
        "Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0).join(',')); });</script>"
    )
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", probe + "</body>"))
    dom = run_chromium(tmp_path, "--dump-dom", probed.as_uri()).stdout
    widths = [int(w) for w in re.search(r'data-widths="([^"]*)"', dom).group(1).split(",")]
    assert len(widths) == len(CHARTS) and all(w > 300 for w in widths), widths

    screenshot = tmp_path / "report.png"
    run_chromium(
        tmp_path,
        f"--screenshot={screenshot}",
        "--window-size=1200,2400",
        (tmp_path / "report" / HTML_REPORT_FILE).as_uri(),
    )
    from PIL import Image

    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert pixels.shape[:2] == (2400, 1200)
    assert pixels.std() > 20  # not a blank page
    colors = len(np.unique(pixels.reshape(-1, 3)[::7].astype(np.uint8), axis=0))
    assert colors > 50, colors  # text, tables and the charts' colours, not a flat fill
