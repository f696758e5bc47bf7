"""What the KFP ingest step does around the core: write the shards into the artifact, or
once per fingerprint under a shared volume (`store_root`) with the artifact holding only
their metadata and location. `run_kfp` is what the generated component.py calls."""

import json
import os


def run_kfp(*, dataset_artifact, dataset, store_root, tfds_data_dir, dataset_version="", **parameters):
    """`dataset_version` is in the signature for KFP's cache key only: the core fingerprints the
    data it reads, whatever the label says."""
    from distml.components.ingest.core import ingest

    os.makedirs(dataset_artifact.path, exist_ok=True)
    target = {"store_root": store_root} if store_root else {"output_dir": dataset_artifact.path}
    metadata = ingest(dataset, data_dir=tfds_data_dir or None, **target, **parameters)
    if store_root:
        with open(os.path.join(dataset_artifact.path, "metadata.json"), "w") as f:
            json.dump(metadata, f, indent=2)
    dataset_artifact.metadata.update(
        {
            "fingerprint": metadata["fingerprint"],
            "location": metadata["location"],
            "num_classes": metadata["num_classes"],
            "dataset_version": dataset_version,
            **{f"{split}_examples": info["num_examples"] for split, info in metadata["splits"].items()},
        }
    )
