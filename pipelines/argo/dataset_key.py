"""The memoization key of the ingest step.

This file runs twice: imported by the tests, and embedded verbatim as the source of the
`dataset-key` script template, which reads the parameters from the environment and writes
its outputs to files. So it must stay standard-library only and self-contained.

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


def dataset_cache_key(values):
    """A valid Argo cache key that changes when any data-determining parameter changes."""
    missing = [name for name in DATA_PARAMETERS if name not in values]
    if missing:
        raise KeyError(f"missing data parameters: {', '.join(missing)}")
    canonical = json.dumps({name: str(values[name]) for name in DATA_PARAMETERS}, sort_keys=True)
    return KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def env_name(parameter):
    return "DISTML_" + parameter.upper().replace("-", "_")


def main(environ=os.environ, output_dir=OUTPUT_DIR):
    values = {name: environ[env_name(name)] for name in DATA_PARAMETERS}
    key = dataset_cache_key(values)
    os.makedirs(output_dir, exist_ok=True)
    outputs = {"cache-key": key}
    for name, value in outputs.items():
        with open(os.path.join(output_dir, name), "w") as f:
            f.write(value)
    print(json.dumps(outputs), file=sys.stderr)


if __name__ == "__main__":
    main()
