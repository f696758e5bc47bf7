"""The model artifact contract, in one place: train writes it, select checks and pushes it,
deploy and the model server read it.

    <model_dir>/                       what `distml train` writes
        <version>/                     a version directory: a TF Serving SavedModel
            saved_model.pb, variables/
            assets.extra/model.json    MODEL_INFO: model_type, image_shape, num_classes,
                                       class_names, dataset_fingerprint, version
        model.keras, metrics.json
    <repo>/<model_name>/<N>/           the model repository: version directories numbered 1, 2, ...

Signature SIGNATURE (`serving_default`): one input INPUT_NAME (`images`, float32
[None, H, W, C], raw 0-255 pixels) -> OUTPUTS `probabilities` float32 [None, K] and
`class_ids` int64 [None]. UINT8_SIGNATURE takes the same images as uint8.

One rule resolves every version: a version directory is complete when it holds both
saved_model.pb and model.json; a model directory (a train output or a repository's model
folder) resolves to its newest complete numeric version. No TensorFlow at import: the
slim image, the KFP wrappers and the deploy core use this module.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.files import STALE_AFTER_S, owned_temporary, remove_stale_temporaries, temporary_name

if TYPE_CHECKING:
    import tensorflow as tf

log = logging.getLogger("distml")

SIGNATURE = "serving_default"
UINT8_SIGNATURE = "serving_uint8"
INPUT_NAME = "images"
OUTPUTS = ("probabilities", "class_ids")
SAVED_MODEL_FILE = "saved_model.pb"
MODEL_INFO = Path("assets.extra") / "model.json"
KERAS_FILE = "model.keras"
TRAINING_METRICS_FILE = "metrics.json"
PUSH_ATTEMPTS = 1000  # version numbers tried before a push gives up (each loss is another pusher's win)
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelArtifactError(UsageError):
    """A directory is not a model version that follows this contract."""


def check_model_name(name: str) -> str:
    if not name or not _MODEL_NAME.match(name):
        raise UsageError(
            f"model name {name!r} must be letters, digits, '.', '_' or '-' (a directory name in the repository)"
        )
    return name


def model_base(repo: Path | str, model_name: str) -> Path:
    return Path(repo) / model_name


def is_version_dir(path: Path | str) -> bool:
    """A complete version directory: SavedModel plus distml's model.json."""
    path = Path(path)
    return (path / SAVED_MODEL_FILE).is_file() and (path / MODEL_INFO).is_file()


def _numeric_dirs(folder):
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.isdigit() and p.is_dir()), key=lambda p: int(p.name))


def list_versions(repo: Path | str, model_name: str) -> list[int]:
    """Every version number taken under <repo>/<model_name>/, ascending (complete or not)."""
    return [int(p.name) for p in _numeric_dirs(model_base(repo, model_name))]


def newest_complete_version(folder: Path | str) -> tuple[int, Path] | None:
    """(N, path) of the newest complete numeric version directory in `folder`, or None."""
    for path in reversed(_numeric_dirs(folder)):
        if is_version_dir(path):
            return int(path.name), path
    return None


def latest_version(repo: Path | str, model_name: str) -> tuple[int, Path] | None:
    """(N, path) of the repository's newest complete version, or None when it has none."""
    return newest_complete_version(model_base(repo, model_name))


def read_model_info(version_dir: Path | str) -> dict[str, object]:
    path = Path(version_dir) / MODEL_INFO
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelArtifactError(f"{version_dir} has no {MODEL_INFO}: not a distml model version") from None
    except ValueError as e:
        raise ModelArtifactError(f"{path} is not valid JSON ({e}): not a distml model version") from None


def resolve_version_dir(model_dir: Path | str, version: int | str | None = None) -> Path:
    """The version directory a path names: the path itself when it is a complete version,
    `<model_dir>/<version>` when `version` is given, else the newest complete version in it."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelArtifactError(f"model {model_dir} does not exist or is not a directory")
    if version is not None:
        candidate = model_dir / str(version)
        if not is_version_dir(candidate):
            raise ModelArtifactError(f"{candidate} is not a model version (needs {SAVED_MODEL_FILE} and {MODEL_INFO})")
        return candidate
    if is_version_dir(model_dir):
        return model_dir
    newest = newest_complete_version(model_dir)
    if newest is None:
        for path in [model_dir, *reversed(_numeric_dirs(model_dir))]:
            if (path / SAVED_MODEL_FILE).is_file():
                raise ModelArtifactError(f"{path} has no {MODEL_INFO}: not a model written by `distml train`")
        raise ModelArtifactError(
            f"{model_dir} is not a model: it holds no model version "
            f"(expected <model_dir>/<N>/ with {SAVED_MODEL_FILE} and {MODEL_INFO}, as `distml train` writes)"
        )
    return newest[1]


def signature_problem(
    signature: tf.types.experimental.ConcreteFunction,
    image_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
) -> str | None:
    """Why a loaded `serving_default` does not follow the contract (None when it does):
    one input `images` float32 [None, *image_shape], outputs probabilities [None, K] and class_ids."""
    _, inputs = signature.structured_input_signature
    spec = inputs.get(INPUT_NAME)
    if spec is None or len(inputs) != 1:
        return f"signature {SIGNATURE} must take one input {INPUT_NAME!r}, takes {sorted(inputs)}"
    shape = list(spec.shape)[1:]
    if spec.dtype.name != "float32" or (image_shape is not None and shape != [int(d) for d in image_shape]):
        wanted = "float32" + (f" [None, {', '.join(map(str, image_shape))}]" if image_shape is not None else "")
        return f"input {INPUT_NAME!r} is {spec.dtype.name} [None, {', '.join('?' if d is None else str(d) for d in shape)}], expected {wanted}"
    outputs = signature.structured_outputs
    missing = [name for name in OUTPUTS if name not in outputs]
    if missing:
        return f"signature {SIGNATURE} lacks outputs {missing}"
    predicted = outputs["probabilities"].shape[-1]
    if num_classes is not None and predicted is not None and predicted != num_classes:
        return f"it predicts {predicted} classes, expected {num_classes}"
    return None


def directory_digest(path: Path | str) -> str:
    """sha256 over every file's relative path and content: equal digests mean equal models."""
    import hashlib

    path = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel == MODEL_INFO.as_posix():
            # model.json records the version number it was pushed as; compare the rest of it.
            info = json.loads(file.read_text())
            info.pop("version", None)
            content = json.dumps(info, sort_keys=True).encode()
        else:
            content = file.read_bytes()
        digest.update(rel.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def _claim(base, version):
    """Claim version number `version` under `base` with an exclusive mkdir (atomic on the
    shared filesystem, whichever host or pod calls it); False if another pusher has it."""
    try:
        (base / str(version)).mkdir()
        return True
    except FileExistsError:
        return False


def push(
    version_dir: Path | str, repo: Path | str, model_name: str, version: int | str | None = None
) -> tuple[int, Path]:
    """Copy a version directory into the repository as `<repo>/<model_name>/<N>/`; return (N, path).

    The copy is made in a hidden temporary first. Then a number is claimed: N = one past
    the highest number taken, claimed by creating the empty directory N (mkdir either
    creates it or fails because another pusher has it, in which case the next number is
    tried); the staged copy, its model.json now recording N, is renamed onto the claim.
    Concurrent pushers from any number of processes or pods sharing the volume thus get
    distinct, consecutive numbers, and a server scanning meanwhile never sees half a
    version (an empty claim is not a complete version). Any failure is one line and leaves
    no new version. Temporaries of killed pushers are removed on the way.
    """
    check_model_name(model_name)
    version_dir = Path(version_dir)
    if not is_version_dir(version_dir):
        raise ModelArtifactError(f"{version_dir} is not a model version (needs {SAVED_MODEL_FILE} and {MODEL_INFO})")
    if version is not None and int(version) < 1:
        raise UsageError(f"version must be a positive integer, got {version}")
    base = model_base(repo, model_name)
    try:
        base.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(base)
        with owned_temporary(base / temporary_name("push")) as staging:
            copy = staging / "version"
            shutil.copytree(version_dir, copy)
            info = read_model_info(copy)
            _make_readable(copy)
            number = _claim_and_rename(copy, base, info, version)
    except (OSError, shutil.Error) as e:
        raise DistmlError(
            f"pushing {version_dir} to {base} failed, the repository is unchanged: {_one_line(e)}"
        ) from None
    path = base / str(number)
    log.info("pushed %s as %s version %d (%s)", version_dir, model_name, number, path)
    return number, path


def remove_stale_claims(base: Path | str, stale_after_s: float = STALE_AFTER_S) -> None:
    """Remove empty version directories older than `stale_after_s`: claims of pushers killed
    between claiming a number and renaming their copy onto it (a live one takes milliseconds)."""
    now = time.time()
    for path in _numeric_dirs(base):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > stale_after_s and not any(path.iterdir()):
                path.rmdir()


def _claim_and_rename(copy, base, info, version):
    remove_stale_claims(base)
    for _ in range(PUSH_ATTEMPTS):
        number = int(version) if version is not None else max(list_versions(base.parent, base.name), default=0) + 1
        if not _claim(base, number):
            if version is not None:
                raise UsageError(f"{base / str(number)} already exists: versions in a model repository are immutable")
            continue
        try:
            info["version"] = str(number)
            (copy / MODEL_INFO).write_text(json.dumps(info, indent=2) + "\n")
            os.chmod(copy / MODEL_INFO, 0o644)
            os.rename(copy, base / str(number))  # replaces our own empty claim, atomically
        except OSError as e:
            with contextlib.suppress(OSError):
                (base / str(number)).rmdir()  # give the number back (only if still our empty claim)
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST) and version is None:
                continue  # our claim was filled by another pusher (after a stale-claim cleanup): next number
            raise
        except BaseException:
            with contextlib.suppress(OSError):
                (base / str(number)).rmdir()
            raise
        return number
    raise DistmlError(f"no free version number in {base} after {PUSH_ATTEMPTS} attempts")


def _make_readable(tree):
    """Make the copy readable by a server running as another user (the predictor pod)."""
    for root, dirs, files in os.walk(tree):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    os.chmod(tree, 0o755)


def _one_line(error):
    # shutil.copytree gathers every failed file into args[0] as (src, dst, why).
    if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list) and error.args[0]:
        src, _, why = error.args[0][0]
        return f"{src}: {why}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
