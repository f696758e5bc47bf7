"""Progress for long work: a bar on a terminal, periodic log lines otherwise (CI, pods)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

log = logging.getLogger("distml")
T = TypeVar("T")


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "", interval_s: float = 10.0) -> Iterator[T]:
    """Iterate `iterable`, showing how far it got."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(iterable, total=total, desc=desc, unit="ex", leave=False)
        return
    last = time.monotonic()
    count = 0
    for count, item in enumerate(iterable, 1):
        yield item
        now = time.monotonic()
        if now - last >= interval_s:
            last = now
            of_total = f"/{total}" if total else ""
            log.info("%s: %d%s", desc, count, of_total)
