"""Which checkpoint a resumed run restores: the newest one that reads back whole.

A checkpoint is `ckpt-N.index` + `ckpt-N.data-*`; every tensor in the data files carries
a CRC32C, so reading them all finds a truncated or bit-flipped file. TensorFlow records a
checkpoint in the `checkpoint` state file only after its files are written, but a
killed save, a full disk or a damaged volume can still leave the newest one unreadable:
the chief then sets it aside (renamed `*.damaged`, named in the log), points the state
file at the newest intact one, and removes the half-written `*_temp*` folders of saves
that were killed. The other workers restore what the state file names.
"""

import logging
import re
import shutil
from pathlib import Path

log = logging.getLogger("distml")

STATE_FILE = "checkpoint"
DAMAGED_SUFFIX = ".damaged"
_INDEX = re.compile(r"^(ckpt-(\d+))\.index$")


def checkpoint_prefixes(directory):
    """Every checkpoint prefix in `directory`, newest (highest N) first."""
    found = []
    for path in Path(directory).glob("ckpt-*.index"):
        match = _INDEX.match(path.name)
        if match:
            found.append((int(match[2]), Path(directory) / match[1]))
    return [prefix for _, prefix in sorted(found, reverse=True)]


def checkpoint_problem(prefix):
    """Why the checkpoint at `prefix` cannot be restored, naming the file; None if it can."""
    import tensorflow as tf

    prefix = Path(prefix)
    data_files = sorted(prefix.parent.glob(prefix.name + ".data-*"))
    if not data_files:
        return f"{prefix}.data-*: missing"
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except Exception as e:  # noqa: BLE001 - any failure to read means "cannot restore"
        return f"{prefix}.index: {_one_line(e)}"
    where = data_files[0] if len(data_files) == 1 else f"{prefix}.data-*"
    try:
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as e:  # noqa: BLE001
        return f"{where}: {_one_line(e)}"
    return None


def newest_restorable(directory):
    """(prefix of the newest checkpoint that reads back whole or None, [problems of newer ones])."""
    problems = []
    for prefix in checkpoint_prefixes(directory):
        problem = checkpoint_problem(prefix)
        if problem is None:
            return prefix, problems
        problems.append(problem)
    return None, problems


def prepare_resume(directory):
    """The chief's repair before a restore: return the prefix to restore (None: start over)."""
    import tensorflow as tf

    directory = Path(directory)
    for leftover in directory.glob("*_temp*"):  # a save killed before TensorFlow renamed it
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    good, problems = newest_restorable(directory)
    for problem in problems:
        log.warning("checkpoint cannot be restored, set aside: %s", problem)
    damaged = checkpoint_prefixes(directory)
    damaged = damaged[: damaged.index(good)] if good is not None else damaged
    for prefix in damaged:
        for file in prefix.parent.glob(prefix.name + ".*"):
            if not file.name.endswith(DAMAGED_SUFFIX):
                file.rename(file.with_name(file.name + DAMAGED_SUFFIX))
    if damaged:
        if good is None:
            (directory / STATE_FILE).unlink(missing_ok=True)
            log.warning("no checkpoint in %s can be restored: training starts over", directory)
        else:
            tf.compat.v1.train.update_checkpoint_state(
                str(directory), str(good), all_model_checkpoint_paths=[str(good)]
            )
            log.warning("resuming from %s, the newest checkpoint that restores", good.name)
    return good


def _one_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
