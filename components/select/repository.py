"""Pushing to the model repository, `<repo>/<model_name>/<N>/` (TF Serving / KServe layout).

The layout and the atomic copy live in deploy's repository module (deploy and serve read
what select writes); this adds what selection needs: the newest complete version as a
baseline, and a push whose failure is one line and leaves the repository as it was.
"""

import logging
import shutil
from pathlib import Path

from distml.components.common.errors import DistmlError
from distml.components.deploy import repository as layout

log = logging.getLogger("distml")

check_model_name = layout.check_model_name


def model_base(repo, model_name):
    return Path(repo) / model_name


def latest_version(repo, model_name):
    """(N, path) of the newest complete version, or None when the repository has none."""
    for version in reversed(layout.list_versions(repo, model_name)):
        path = model_base(repo, model_name) / str(version)
        if layout.is_version_dir(path):
            return version, path
    return None


def push(version_dir, repo, model_name):
    """Copy a SavedModel version directory to `<repo>/<model_name>/<next N>/`; return (N, path).

    The copy appears under its number only when complete (a hidden temporary sibling is
    renamed), so a failed push, or a server scanning meanwhile, never sees half a version.
    """
    try:
        version = layout.push_version(version_dir, repo, model_name)
    except (OSError, shutil.Error) as e:
        raise DistmlError(f"pushing {version_dir} to {model_base(repo, model_name)} failed, the repository is unchanged: {_one_line(e)}") from None
    path = model_base(repo, model_name) / str(version)
    log.info("pushed %s as %s version %d (%s)", version_dir, model_name, version, path)
    return version, path


def _one_line(error):
    # shutil.copytree gathers every failed file into args[0] as (src, dst, why).
    if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list) and error.args[0]:
        src, _, why = error.args[0][0]
        return f"{src}: {why}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
