"""`distml ingest`: the ingest component's container entrypoint."""

import json
import re

from distml.components.common.errors import UsageError
from distml.components.ingest.spec import SPEC


def image_size(text):
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match:
        raise UsageError(f"--image-size must look like 28x28, got {text!r}")
    return int(match[1]), int(match[2])


def add_arguments(parser):
    SPEC.add_arguments(parser)


def run(args):
    from distml.components.ingest.core import ingest

    if bool(args.output) == bool(args.store_root):
        raise UsageError("give one of --output DIR and --store-root DIR")
    metadata = ingest(
        args.dataset,
        args.output or None,
        store_root=args.store_root or None,
        num_shards=args.num_shards,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        data_dir=args.tfds_data_dir or None,
        download=args.download,
        image_size=image_size(args.image_size) if args.image_size else None,
        channels=args.channels or None,
        test_fraction=args.test_fraction,
        allow_empty_classes=args.allow_empty_classes,
    )
    if args.metadata_out:
        with open(args.metadata_out, "w") as f:
            json.dump(metadata, f, indent=2)
    if args.dataset_dir_out:
        with open(args.dataset_dir_out, "w") as f:
            f.write(metadata["location"])
    print(
        json.dumps(
            {
                "output": metadata["location"],
                "fingerprint": metadata["fingerprint"],
                "splits": {s: v["num_examples"] for s, v in metadata["splits"].items()},
            }
        )
    )
