"""The ingest component's parameters: the one declaration the CLI, the KFP component, the
Argo template and the core's defaults are derived from."""

from distml.components.common import k8s
from distml.components.common.params import CLI, KFP, ComponentSpec, Param

SPEC = ComponentSpec(
    name="ingest",
    description="Turn a dataset into sharded TFRecords that workers read without overlap.",
    kfp_body="distml.components.ingest.pipeline_step",
    params=(
        Param(
            "dataset_artifact",
            artifact="Dataset",
            output=True,
            on=frozenset({KFP}),
            help="the artifact: the shards and metadata.json, or metadata.json alone pointing at the shards under store_root",
        ),
        # The offline dataset every path can run (a laptop, CI, an air-gapped cluster).
        Param(
            "dataset",
            str,
            "digits",
            help="digits (offline), tfds:NAME[:VERSION] (e.g. tfds:fashion_mnist) or folder:PATH",
        ),
        Param(
            "output",
            str,
            "",
            on=frozenset({CLI}),
            metavar="DIR",
            help="artifact directory to create (or give --store-root)",
        ),
        # The KFP component is for clusters (train's launcher there is a TFJob, whose pods read
        # only the datasets volume); the command line asks for --output or --store-root.
        Param(
            "store_root",
            str,
            "",
            cluster_default=k8s.DATASETS_MOUNT,
            on=frozenset({CLI, KFP}),
            metavar="DIR",
            help="a shared volume (e.g. /mnt/datasets): the artifact goes to <store-root>/<fingerprint[:20]>, "
            "written once for every run that asks for the same data",
        ),
        # Only a cache key: KFP caches a step on its inputs, and `dataset` stays the same text
        # when the files behind it change.
        Param(
            "dataset_version",
            str,
            "",
            on=frozenset({KFP}),
            help="the version of the data behind `dataset`; a new value makes KFP ingest again instead of reusing "
            "its cache. distml run fills it with the content fingerprint; `distml dataset-version DATASET` prints it",
        ),
        Param("num_shards", int, 0, help="TFRecord shards per split (0: 8, more for datasets above 512 MB)"),
        # Nothing reads a validation split (training and select evaluate on test): holding
        # one out by default would only shrink the training data.
        Param("validation_fraction", float, 0.0, help="fraction of train held out as a validation split"),
        Param("seed", int, 0, help="seed for the validation/test split assignment"),
        Param(
            "tfds_data_dir",
            str,
            "",
            flag="--data-dir",
            on=frozenset({CLI, KFP}),
            help="TFDS data directory (pre-populated for offline clusters)",
        ),
        Param(
            "download",
            bool,
            True,
            flag="--no-download",
            cli_action="store_false",
            on=frozenset({CLI, KFP}),
            help="never download; fail if the dataset is not in --data-dir",
        ),
        Param(
            "image_size", str, "", on=frozenset({CLI}), help="resize images to HxW (folder sources default to 28x28)"
        ),
        Param(
            "channels",
            int,
            0,
            choices=(0, 1, 3),
            on=frozenset({CLI}),
            help="folder sources: 1 (grayscale) or 3 (RGB); 0: 1",
        ),
        Param(
            "test_fraction",
            float,
            0.2,
            on=frozenset({CLI, KFP}),
            help="folder sources without train/ and test/: fraction held out for test",
        ),
        Param(
            "allow_empty_classes",
            bool,
            False,
            cli_action="store_true",
            on=frozenset({CLI}),
            help="folder sources: keep a class folder with no images (a warning instead of an error)",
        ),
        Param(
            "metadata_out",
            str,
            "",
            on=frozenset({CLI}),
            help="also write the artifact's metadata.json here (for orchestrator outputs)",
        ),
        Param(
            "dataset_dir_out",
            str,
            "",
            on=frozenset({CLI}),
            help="also write the artifact's directory here (for orchestrator outputs)",
        ),
    ),
)

DEFAULTS = SPEC.defaults()
