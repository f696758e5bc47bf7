"""KFP wrapper of the ingest component: a thin call into the core."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from distml.components.common.k8s import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest(
    dataset_artifact: Output[Dataset],
    dataset: str = "tfds:fashion_mnist",
    num_shards: int = 8,
    validation_fraction: float = 0.0,
    seed: int = 0,
    data_root: str = "",
    tfds_data_dir: str = "",
    download: bool = True,
):
    """Turn a dataset into sharded TFRecords that workers read without overlap.

    dataset: digits (offline), tfds:NAME[:VERSION] or folder:PATH.
    data_root: a shared volume (e.g. /mnt/datasets); the shards are written once per
    fingerprint there and the artifact holds their metadata and location. Empty: the
    shards go into the artifact itself.
    """
    import json
    import os

    from distml.components.ingest.core import ingest as run_ingest

    os.makedirs(dataset_artifact.path, exist_ok=True)
    target = {"store_root": data_root} if data_root else {"output_dir": dataset_artifact.path}
    metadata = run_ingest(
        dataset, num_shards=num_shards or None, validation_fraction=validation_fraction, seed=seed,
        data_dir=tfds_data_dir or None, download=download, **target,
    )
    if data_root:
        with open(os.path.join(dataset_artifact.path, "metadata.json"), "w") as f:
            json.dump(metadata, f, indent=2)
    dataset_artifact.metadata.update({
        "fingerprint": metadata["fingerprint"],
        "location": metadata["location"],
        "num_classes": metadata["num_classes"],
        **{f"{split}_examples": info["num_examples"] for split, info in metadata["splits"].items()},
    })
