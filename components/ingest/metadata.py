"""metadata.json of a dataset artifact: how it is keyed, and how it verifies itself.

The fingerprint (the memoization key, known before any example is written) covers the
source, the ingest parameters and the fields that shape training: image_shape, num_classes,
class_names. `checksums` holds a sha256 of every field training reads (COVERED_FIELDS), so
an edited or corrupted field is named on load. Reading never trusts the file blindly:
`load_metadata` fails in one line naming the file and the field.
"""

import hashlib
import json
from pathlib import Path

from distml.components.common.errors import DataIntegrityError, UsageError

ARTIFACT_FORMAT = "distml.dataset/v2"
METADATA_FILE = "metadata.json"
COVERED_FIELDS = ("source_identity", "params", "image_shape", "num_classes", "class_names", "features", "splits")


def fingerprint(source_identity, params, image_shape, class_names):
    """The memoization key: depends only on what determines the artifact's content."""
    key = {
        "format": ARTIFACT_FORMAT,
        "source": source_identity,
        "params": params,
        "image_shape": list(image_shape),
        "class_names": list(class_names),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def field_checksum(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def checksums(metadata):
    return {name: field_checksum(metadata[name]) for name in COVERED_FIELDS}


def load_metadata(artifact_dir):
    """The verified metadata of the artifact in `artifact_dir`."""
    path = Path(artifact_dir) / METADATA_FILE
    if not path.is_file():
        raise UsageError(f"{artifact_dir} is not a dataset artifact (no {METADATA_FILE}); run `distml ingest` first")
    try:
        metadata = json.loads(path.read_text())
    except ValueError as e:
        raise DataIntegrityError(f"{path} is not valid JSON ({e}): corrupted; re-run `distml ingest`") from None
    verify_metadata(metadata, path)
    return metadata


def verify_metadata(metadata, path):
    def fail(field, why):
        raise DataIntegrityError(f"{path}: field {field!r} {why}; re-run `distml ingest`")

    if not isinstance(metadata, dict):
        raise DataIntegrityError(f"{path} is not a JSON object: not a dataset artifact")
    if metadata.get("format") != ARTIFACT_FORMAT:
        fail(
            "format",
            f"is {metadata.get('format')!r}, expected {ARTIFACT_FORMAT!r} (written by another version of distml?)",
        )
    recorded = metadata.get("checksums")
    if not isinstance(recorded, dict):
        fail("checksums", "is missing or not an object")
    for name in COVERED_FIELDS:
        if name not in metadata:
            fail(name, "is missing")
        if recorded.get(name) != field_checksum(metadata[name]):
            fail(name, "does not match its checksum: the file was edited or is corrupted")
    try:
        expected = fingerprint(
            metadata["source_identity"], metadata["params"], metadata["image_shape"], metadata["class_names"]
        )
    except TypeError:
        expected = None
    if metadata.get("fingerprint") != expected:
        fail("fingerprint", "does not match the fields it covers (source, params, image_shape, class_names)")
    _check_shape(metadata, fail)


def _check_shape(metadata, fail):
    """Consistency a checksum cannot show (a writer bug, or fields edited with their checksums)."""
    shape = metadata["image_shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape)):
        fail("image_shape", f"is {shape!r}, expected [height, width, channels] of positive integers")
    if metadata["params"].get("image_shape") != shape or metadata["features"]["image"]["shape"] != shape:
        fail("image_shape", "disagrees with params.image_shape or features.image.shape")
    names = metadata["class_names"]
    if not isinstance(names, list) or metadata["num_classes"] != len(names) or metadata["num_classes"] < 1:
        fail(
            "num_classes",
            f"is {metadata['num_classes']!r} but class_names lists {len(names) if isinstance(names, list) else '?'}",
        )
    splits = metadata["splits"]
    if not isinstance(splits, dict) or "train" not in splits:
        fail("splits", "has no train split")
    for split, info in splits.items():
        shards = info.get("shards") if isinstance(info, dict) else None
        if not shards or sum(s.get("num_examples", 0) for s in shards) != info.get("num_examples"):
            fail("splits", f"{split}: its shards do not add up to its num_examples")
