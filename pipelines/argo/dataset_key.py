"""The memoization key of the ingest step.

This file runs twice: imported by the tests, and embedded verbatim as the source of the
`dataset-key` script template, which reads the parameters from the environment and writes
its outputs to files. So it imports only the standard library and distml's standard-library
module `dataset_version` (the slim image it runs in has distml without TensorFlow).

The key folds in the data's own version (components/ingest/dataset_version.py, the same
function `distml run` feeds the KFP pipeline): for a folder on the datasets volume, which
the step mounts read-only, its files' names, sizes and modification times, so adding images
to a folder dataset makes a new key without anyone bumping `dataset-version`.

Argo refuses memoization keys outside ^[a-zA-Z0-9][-a-zA-Z0-9]*$ and dataset specs hold
':' and '/', so the key is a hash. Argo expression tags (sprig.sha256sum) in memoize keys
have a history of reaching the cache unevaluated (argo-workflows#6536, #14626), so a step
computes it. No double braces in this file: Argo would substitute them in the script.
"""

import hashlib
import json
import os
import sys

# Every parameter that determines the bytes `distml ingest` writes. The image is one of
# them: a new image can carry a new ingest implementation.
DATA_PARAMETERS = ("dataset", "dataset-version", "num-shards", "validation-fraction", "seed", "image")
KEY_PREFIX = "ingest-"
OUTPUT_DIR = "/tmp/outputs"


def dataset_cache_key(values, data_version=""):
    """A valid Argo cache key that changes when any data-determining parameter changes, or
    the data's own version (`dataset_version` of the dataset, where the step sees the data)."""
    missing = [name for name in DATA_PARAMETERS if name not in values]
    if missing:
        raise KeyError(f"missing data parameters: {', '.join(missing)}")
    canonical = json.dumps(
        {**{name: str(values[name]) for name in DATA_PARAMETERS}, "data-version": data_version}, sort_keys=True
    )
    return KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def env_name(parameter):
    return "DISTML_" + parameter.upper().replace("-", "_")


def main(environ=os.environ, output_dir=OUTPUT_DIR):
    from distml.components.ingest.dataset_version import dataset_version

    values = {name: environ[env_name(name)] for name in DATA_PARAMETERS}
    key = dataset_cache_key(values, dataset_version(values["dataset"]))
    os.makedirs(output_dir, exist_ok=True)
    outputs = {"cache-key": key}
    for name, value in outputs.items():
        with open(os.path.join(output_dir, name), "w") as f:
            f.write(value)
    print(json.dumps(outputs), file=sys.stderr)


if __name__ == "__main__":
    main()
