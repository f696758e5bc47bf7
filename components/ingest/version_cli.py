"""`distml dataset-version DATASET`: print the version of the data behind a dataset value,
for the KFP pipeline's `dataset_version` parameter (components/ingest/dataset_version.py)."""


def add_arguments(parser):
    parser.add_argument("dataset", help="digits, tfds:NAME[:VERSION] or folder:PATH, as ingest takes it")
    parser.add_argument("--data-dir", dest="tfds_data_dir", default="", help="TFDS data directory")


def run(args):
    from distml.components.common.errors import UsageError
    from distml.components.ingest.sources import resolved_dataset_version

    version = resolved_dataset_version(args.dataset, data_dir=args.tfds_data_dir or None)
    if not version:
        raise UsageError(f"no data version for {args.dataset!r}: not a dataset ingest reads (or no such folder)")
    print(version)
    return 0
