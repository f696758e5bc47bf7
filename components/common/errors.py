"""Errors with a one-line message for the user.

The CLI prints these as `distml <command>: error: <message>` with no traceback; any other
exception is a bug and keeps its traceback.
"""


class DistmlError(Exception):
    """An expected failure the user should read, not debug (exit status 1)."""

    exit_code = 1


class UsageError(DistmlError):
    """The user asked for something that cannot work: bad flag value, missing path, unknown name (exit status 2)."""

    exit_code = 2


class DataIntegrityError(DistmlError):
    """A stored artifact does not match its own metadata (corrupted or truncated file)."""
