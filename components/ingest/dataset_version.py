"""The version of the data behind a `dataset` value: what makes an orchestrator's ingest cache
key change when the data changes while the `dataset` text stays the same.

    folder:PATH                  files-<count>-<hash>: every image file's relative path, size and
                                 modification time (a stat per file, no reading: cheap on a
                                 large folder; adding, removing, replacing or touching an image
                                 changes it)
    tfds:NAME[/CONFIG][:VERSION]  NAME[/CONFIG]:VERSION, the version the caller resolved with TFDS
    digits                        when the spec names none (`tfds_version`), else "registered"

One function for every orchestrator: `distml run` passes it to the KFP pipeline's
`dataset_version` parameter, Argo's dataset-key step folds it into the memoization key, and
`distml dataset-version DATASET` prints it for a KFP run started from the UI or the SDK.
Standard library only: Argo's dataset-key step runs it in the slim image.
"""

import hashlib
from pathlib import Path

FOLDER, TFDS, DIGITS = "folder:", "tfds:", "digits"
DIGITS_BUILDER = "distml_digits"  # the offline TFDS builder behind `digits`
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})  # the files a folder source reads


def dataset_version(dataset, tfds_version=""):
    """The data version of `dataset` (see the module docstring); "" for a folder that does not
    exist or a spec ingest does not know (ingest itself then says what is wrong)."""
    if dataset.startswith(FOLDER):
        return folder_version(Path(dataset[len(FOLDER) :]))
    if dataset == DIGITS:
        name, version = DIGITS_BUILDER, ""
    elif dataset.startswith(TFDS):
        name, _, version = dataset[len(TFDS) :].partition(":")
    else:
        return ""
    return f"{name}:{version or tfds_version or 'registered'}"


def folder_version(root):
    root = Path(root)
    if not root.is_dir():
        return ""
    digest = hashlib.sha256()
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        count += 1
    return f"files-{count}-{digest.hexdigest()[:20]}"
