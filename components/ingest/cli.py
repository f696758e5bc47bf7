"""`distml ingest`: the ingest component's container entrypoint."""

import json
import re

from distml.components.common.errors import UsageError


def image_size(text):
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match:
        raise UsageError(f"--image-size must look like 28x28, got {text!r}")
    return int(match[1]), int(match[2])


def add_arguments(parser):
    parser.add_argument("--dataset", default="digits",
                        help="digits (offline, default), tfds:NAME[:VERSION] (e.g. tfds:fashion_mnist) or folder:PATH")
    parser.add_argument("--output", required=True, help="artifact directory to create")
    parser.add_argument("--num-shards", type=int, default=None,
                        help="TFRecord shards per split (default: 8, more for datasets above 512 MB)")
    parser.add_argument("--validation-fraction", type=float, default=0.0, help="fraction of train held out as a validation split")
    parser.add_argument("--seed", type=int, default=0, help="seed for the validation/test split assignment")
    parser.add_argument("--data-dir", default=None, help="TFDS data directory (pre-populated for offline clusters)")
    parser.add_argument("--no-download", dest="download", action="store_false", help="never download; fail if the dataset is not in --data-dir")
    parser.add_argument("--image-size", type=str, default=None, help="resize images to HxW (folder sources default to 28x28)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=None, help="folder sources: 1 (grayscale, default) or 3 (RGB)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="folder sources without train/ and test/: fraction held out for test")
    parser.add_argument("--allow-empty-classes", action="store_true",
                        help="folder sources: keep a class folder with no images (a warning instead of an error)")
    parser.add_argument("--metadata-out", default=None, help="also write the artifact's metadata.json here (for orchestrator outputs)")


def run(args):
    from distml.components.ingest.core import ingest

    metadata = ingest(
        args.dataset,
        args.output,
        num_shards=args.num_shards,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        data_dir=args.data_dir,
        download=args.download,
        image_size=image_size(args.image_size) if args.image_size else None,
        channels=args.channels,
        test_fraction=args.test_fraction,
        allow_empty_classes=args.allow_empty_classes,
    )
    if args.metadata_out:
        with open(args.metadata_out, "w") as f:
            json.dump(metadata, f, indent=2)
    print(json.dumps({"output": args.output, "fingerprint": metadata["fingerprint"],
                      "splits": {s: v["num_examples"] for s, v in metadata["splits"].items()}}))
