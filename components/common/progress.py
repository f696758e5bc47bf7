"""Progress for long work: a bar on a terminal, periodic log lines otherwise (CI, pods)."""

import logging
import sys
import time

log = logging.getLogger("distml")


def progress(iterable, total=None, desc="", interval_s=10.0):
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
