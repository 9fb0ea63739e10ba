"""A check's millions of long-lived objects (the snapshot's rows, the inventory's tables, the findings):
kept out of the garbage collector's scans while they live, and not freed one by one at exit."""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

# Tracked objects made with collection off above which they are frozen rather than scanned.
FREEZE_ABOVE = 100_000


@contextmanager
def long_lived() -> Iterator[None]:
    """No cyclic collection while the block makes its objects (they all survive and form no cycles:
    each generational pass would only rescan them). Afterwards, when it made many, they are moved out
    of the collector's reach (gc.freeze) instead of being scanned by the first collection that
    follows: a second at a million rows, for objects reference counting frees all the same."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            if gc.get_count()[0] > FREEZE_ABOVE:
                gc.freeze()
            gc.enable()


def exit_now(code: int) -> NoReturn:
    """sys.exit(code) for a command that is done, without freeing its heap object by object (a million-row
    check holds tens of millions of objects: 1-2 s of freeing that the operating system does at once).
    Exit handlers still run and the standard streams are flushed; while another thread is still alive
    the interpreter's own shutdown, which waits for it, is used instead."""
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(code)


# What finished stages let go of, held until exit_now() when the process ends with it (see release()).
_held: list[Any] = []
_holding = False


def hold_until_exit() -> None:
    """This process ends with exit_now() (the command line): from now on, release() holds what it is
    given instead of letting it be freed."""
    global _holding
    _holding = True


def release(*objects: Any) -> None:
    """A stage is done with these objects (a million-row check's tables: 1.3 s to free, object by
    object). Where the process ends with exit_now() they are held until then and never freed one by
    one; elsewhere the caller's `del` frees them now."""
    if _holding:
        _held.extend(objects)
