"""The model repository on disk: `<repo>/<model_name>/<N>/`, one TF Serving version per N.

A version directory holds a SavedModel (`saved_model.pb`, `variables/`) and its
`assets.extra/model.json`. Versions appear atomically (copied to a hidden temporary
sibling, then renamed), so a server polling the repository never sees half a model.
No TensorFlow here: the slim image and the KFP wrapper use this module.
"""

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from distml.components.common.errors import UsageError
from distml.components.common.files import atomic_directory

MODEL_INFO = Path("assets.extra") / "model.json"
SAVED_MODEL_FILE = "saved_model.pb"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_model_name(name):
    if not name or not _MODEL_NAME.match(name):
        raise UsageError(f"model name {name!r} must be letters, digits, '.', '_' or '-' (a directory name in the repository)")
    return name


def is_version_dir(path):
    """A complete TF Serving version directory: SavedModel plus distml's model.json."""
    path = Path(path)
    return (path / SAVED_MODEL_FILE).is_file() and (path / MODEL_INFO).is_file()


def list_versions(repo, model_name):
    """The version numbers under <repo>/<model_name>/, ascending; hidden temporary dirs are not versions."""
    model_root = Path(repo) / model_name
    if not model_root.is_dir():
        return []
    return sorted(int(p.name) for p in model_root.iterdir() if p.name.isdigit() and p.is_dir())


def newest_version(repo, model_name):
    versions = list_versions(repo, model_name)
    return versions[-1] if versions else None


def read_model_info(version_dir):
    path = Path(version_dir) / MODEL_INFO
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{version_dir} has no {MODEL_INFO}: not a distml model version") from None
    except ValueError as e:
        raise UsageError(f"{path} is not valid JSON ({e}): not a distml model version") from None


def resolve_version_dir(model_dir, version=None):
    """The SavedModel version directory of a model artifact.

    Accepts a train output `<model_dir>` (uses `<model_dir>/<version>`, or its only
    numeric subdirectory) or a version directory itself.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UsageError(f"model directory {model_dir} does not exist")
    if version is not None:
        candidate = model_dir / str(version)
        if not is_version_dir(candidate):
            raise UsageError(f"{candidate} is not a model version (needs {SAVED_MODEL_FILE} and {MODEL_INFO})")
        return candidate
    if is_version_dir(model_dir):
        return model_dir
    numeric = sorted((p for p in model_dir.iterdir() if p.name.isdigit() and is_version_dir(p)), key=lambda p: int(p.name))
    if not numeric:
        raise UsageError(f"{model_dir} holds no model version (expected <model_dir>/<N>/ with {SAVED_MODEL_FILE} and {MODEL_INFO})")
    if len(numeric) > 1:
        names = ", ".join(p.name for p in numeric)
        raise UsageError(f"{model_dir} holds several versions ({names}): pass the version to deploy")
    return numeric[0]


def directory_digest(path):
    """sha256 over every file's relative path and content: equal digests mean equal models."""
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


def push_version(version_dir, repo, model_name, version=None):
    """Copy a version directory to <repo>/<model_name>/<N>/ atomically and return N.

    N is `version`, or one past the newest existing version. The copy's model.json
    records N, so a served response names the version it came from.
    """
    check_model_name(model_name)
    if not is_version_dir(version_dir):
        raise UsageError(f"{version_dir} is not a model version (needs {SAVED_MODEL_FILE} and {MODEL_INFO})")
    number = int(version) if version is not None else (newest_version(repo, model_name) or 0) + 1
    if number < 1:
        raise UsageError(f"version must be a positive integer, got {number}")
    target = Path(repo) / model_name / str(number)
    if target.exists():
        raise UsageError(f"{target} already exists: versions in a model repository are immutable")
    with atomic_directory(target) as tmp:
        shutil.copytree(version_dir, tmp, dirs_exist_ok=True)
        info = read_model_info(tmp)
        info["version"] = str(number)
        (tmp / MODEL_INFO).write_text(json.dumps(info, indent=2) + "\n")
        # Make the copy readable by a server running as another user (the predictor pod).
        for root, dirs, files in os.walk(tmp):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        os.chmod(tmp, 0o755)
    return number
