"""Drift detection: false-alarm rate on in-distribution traffic, smallest shift detected.

    python -m benchmarks.drift [--samples 200] [--repeats 200] [--shift-repeats 50] [--workdir DIR]

The offline digits dataset is ingested with a validation split (20%); a CNN is trained on
train; the monitor's reference is the train split's statistics plus the model's
predictions on validation. Traffic is drawn with replacement from the test split (images
neither the statistics nor the prediction reference saw), sent through the model in
requests of 8 and written with the real request-log writer; each trial is one
`distml monitor` decision (read the log, score, decide) at the default thresholds.

- false alarms: share of in-distribution trials that say retrain (the target is below
  --alpha, 1%), and which feature raised them;
- sensitivity: for each shift family and severity, share of trials that say retrain;
  the smallest shift detected is the smallest severity detected in >= 90% of trials.
"""

import argparse
import shutil
import time

import numpy as np

from benchmarks.common import print_machine, save_json, table, workdir
from benchmarks.drift_shifts import SHIFTS, load_split, serve_to_log, shifted_sample

GRIDS = {
    "invert": [0.02, 0.05, 0.1, 0.15, 0.2, 0.3],
    "darken": [0.02, 0.05, 0.1, 0.15, 0.2, 0.3],
    "rotate": [3, 5, 10, 15, 20, 30],
    "imbalance": [0.05, 0.1, 0.15, 0.2, 0.3, 0.5],
}
DETECTED = 0.9


def prepare(root):
    from distml.components.ingest.core import ingest
    from distml.components.train.core import train

    dataset, model_dir = root / "drift-digits", root / "drift-model"
    ingest("digits", dataset, num_shards=4, validation_fraction=0.2, seed=0)
    if not model_dir.exists():
        train(dataset, model_dir, model_type="cnn", epochs=3, batch_size=32, seed=0)
    return dataset, model_dir


def trial(model, reference, images, labels, n, rng, log_dir, thresholds, shift=None, severity=0.0):
    from distml.components.monitor.core import decide
    from distml.components.monitor.profiles import traffic_profile
    from distml.components.monitor.request_log import RequestLog, read_traffic

    shutil.rmtree(log_dir, ignore_errors=True)
    serve_to_log(model, shifted_sample(images, labels, n, rng, shift, severity), RequestLog(log_dir / "requests.jsonl"))
    current = traffic_profile(read_traffic([log_dir], images.shape[1:]), len(reference["labels"]), str(log_dir))
    retrain, drifted, _ = decide(reference, current, thresholds)
    return retrain, drifted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="images per monitoring run (default 200)")
    parser.add_argument("--repeats", type=int, default=200, help="in-distribution runs (default 200)")
    parser.add_argument("--shift-repeats", type=int, default=50, help="runs per shift severity (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--result", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    from distml.components.common.model_artifact import resolve_version_dir
    from distml.components.ingest.reader import load_metadata
    from distml.components.monitor.core import reference_profile
    from distml.components.monitor.profiles import Model
    from distml.components.monitor.spec import DEFAULTS

    root = workdir(args.workdir)
    print_machine()
    dataset, model_dir = prepare(root)
    metadata = load_metadata(dataset)
    model = Model(resolve_version_dir(model_dir), metadata)
    reference, _ = reference_profile(dataset, metadata, model)
    images, labels = load_split(dataset, "test")
    thresholds = {
        "psi": DEFAULTS.psi_threshold,
        "alpha": DEFAULTS.alpha,
        "min_samples": min(DEFAULTS.min_samples, args.samples),
        "max_accuracy_drop": DEFAULTS.max_accuracy_drop,
    }
    rng = np.random.default_rng(args.seed)
    log_dir = root / "drift-log"

    start = time.monotonic()
    alarms, by_feature = 0, {}
    for _ in range(args.repeats):
        retrain, drifted = trial(model, reference, images, labels, args.samples, rng, log_dir, thresholds)
        alarms += retrain
        for name in drifted:
            by_feature[name] = by_feature.get(name, 0) + 1
    seconds_per_run = (time.monotonic() - start) / args.repeats
    false_alarm_rate = alarms / args.repeats
    table(
        f"False alarms on in-distribution traffic ({args.repeats} runs of {args.samples} images, reference "
        f"{reference['num_images']} train images / {reference['predictions']['num']} validation predictions)",
        ["false-alarm rate", "runs that said retrain", "features that raised them", "s per run"],
        [
            [
                f"{false_alarm_rate:.1%}",
                alarms,
                ", ".join(f"{k}: {v}" for k, v in by_feature.items()) or "none",
                f"{seconds_per_run:.2f}",
            ]
        ],
    )

    sensitivity = {}
    for shift, grid in GRIDS.items():
        rows = []
        for severity in grid:
            hits, features = 0, {}
            for _ in range(args.shift_repeats):
                retrain, drifted = trial(
                    model, reference, images, labels, args.samples, rng, log_dir, thresholds, shift, severity
                )
                hits += retrain
                for name in drifted:
                    features[name] = features.get(name, 0) + 1
            rows.append({"severity": severity, "detection_rate": hits / args.shift_repeats, "features": features})
        smallest = next((r["severity"] for r in rows if r["detection_rate"] >= DETECTED), None)
        sensitivity[shift] = {"rows": rows, "smallest_detected": smallest}
        table(
            f"{shift}: {SHIFTS[shift]} ({args.shift_repeats} runs of {args.samples} images per severity)",
            ["severity", "detected", "features drifted (runs)"],
            [
                [
                    r["severity"],
                    f"{r['detection_rate']:.0%}",
                    ", ".join(f"{k}: {v}" for k, v in sorted(r["features"].items(), key=lambda kv: -kv[1])) or "-",
                ]
                for r in rows
            ],
        )
    table(
        f"Smallest shift detected in >= {DETECTED:.0%} of runs of {args.samples} images",
        ["shift", "smallest severity detected"],
        [
            [shift, s["smallest_detected"] if s["smallest_detected"] is not None else f"> {GRIDS[shift][-1]}"]
            for shift, s in sensitivity.items()
        ],
    )
    if args.result:
        save_json(
            args.result,
            {
                "samples": args.samples,
                "repeats": args.repeats,
                "false_alarm_rate": false_alarm_rate,
                "false_alarms_by_feature": by_feature,
                "thresholds": thresholds,
                "sensitivity": sensitivity,
            },
        )


if __name__ == "__main__":
    main()
