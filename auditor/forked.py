"""Work done by a forked copy of this process, so that a large check keeps the second core busy after
the snapshot load too (the findings and their texts). The copy shares the parent's memory
copy-on-write, so it starts with every table in place; what it sends back goes through an in-memory
file (marshal). Anything that goes wrong in the copy yields no answer, and the caller then does that
work itself: results and error messages are those of one process.

Copy-on-write is not free: every object either process reads has its reference count written, which
copies its page. A copy that reads most of the heap (all findings, say) costs as much memory again.
"""

from __future__ import annotations

import gc
import marshal
import multiprocessing
import os
import signal
import struct
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

# The length before each message between processes (the answers here, the load helper's messages).
LENGTH = struct.Struct("<Q")


def can_fork() -> bool:
    """Linux (fork is what makes the copy cheap), two cores or more, and no other thread running (a
    thread's locks would be copied held)."""
    return (sys.platform.startswith("linux") and (os.cpu_count() or 1) >= 2
            and threading.active_count() == 1)


class Forked:
    """work(send) run in a forked child from now on; answer() waits for it. Each value the work passes
    to send() must be one marshal can write (None, bool, numbers, str, bytes, and lists, tuples and
    dicts of them); answer() returns them in order."""

    @classmethod
    def start(cls, work: Callable[[Callable[[Any], None]], None]) -> Forked | None:
        """None where forking is not possible here (the caller does the work itself)."""
        if not can_fork():
            return None
        try:
            return cls(work)
        except OSError:
            return None

    def __init__(self, work: Callable[[Callable[[Any], None]], None]):
        self._answers = _answer_file()
        # The child writes a byte here once its work is done and answered: the parent reads the
        # answers while the child's exit frees its memory (a tenth of a second for a copy of 3 GB).
        done_read, done_write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (self._answers, done_read, done_write):
                os.close(fd)
            raise
        if pid == 0:  # the child: never returns
            os.close(done_read)
            _child(work, self._answers, done_write)
        os.close(done_write)  # so that the child's exit, whatever it did, ends the parent's read
        self._pid: int | None = pid
        self._done = done_read

    def answer(self) -> tuple[bool, list[Any]]:
        """(True, the values sent), or (False, those read before the failure) when the child failed."""
        assert self._pid is not None, "answered already"
        values: list[Any] = []
        done = False
        at = size = 0
        try:
            # Done, or exited without saying so: either way nothing more is written to the answers.
            done = _read_done(self._done)
            # One value at a time: the answers are never held twice, as bytes and as objects.
            size = os.fstat(self._answers).st_size
            while at + LENGTH.size <= size:
                (length,) = LENGTH.unpack(_read_at(self._answers, LENGTH.size, at))
                if at + LENGTH.size + length > size:
                    break
                values.append(marshal.loads(_read_at(self._answers, length, at + LENGTH.size)))
                at += LENGTH.size + length
        except (OSError, EOFError, ValueError, TypeError, struct.error):
            done = False
        finally:
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
            os.close(self._answers)
            os.close(self._done)
        return done and os.waitstatus_to_exitcode(status) == 0 and at == size, values

    def close(self) -> None:
        """Stop the child if it has not answered (the parent failed meanwhile)."""
        if self._pid is not None:
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            os.close(self._answers)
            os.close(self._done)
            self._pid = None


def _read_done(fd: int) -> bool:
    """Whether the child said it was done (False: it exited without saying so)."""
    return os.read(fd, 1) == b"\x01"


def _answer_file() -> int:
    """An anonymous file in memory for the child's answers (a pipe would block the child at 64 KB
    until the parent is free to read)."""
    try:
        return os.memfd_create("dr-audit-answers", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        with tempfile.TemporaryFile() as handle:  # already unlinked: the duplicate keeps it alive
            return os.dup(handle.fileno())


def _read_at(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    while len(data) < size:  # pread may return less than asked
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            raise EOFError("answer file ends early")
        data += more
    return data


def _child(work: Callable[[Callable[[Any], None]], None], answers: int, done: int) -> None:
    # No collection here: it would walk (and so copy) every page of the parent's millions of objects.
    gc.disable()
    code = 1
    try:
        def send(value: Any) -> None:
            data = marshal.dumps(value)
            os.write(answers, LENGTH.pack(len(data)))
            view = memoryview(data)
            while view:
                view = view[os.write(answers, view):]

        work(send)
        os.write(done, b"\x01")
        code = 0
    except BaseException:  # noqa: BLE001 - the parent does the work itself and reports what fails
        pass
    finally:
        os._exit(code)  # no exit handlers, no flushing of the parent's buffered output


def shared_work(count: int, do: Callable[[int], Any]) -> list[Any]:
    """[do(0), ..., do(count - 1)], computed by this process from the front and a forked copy from the
    back until they meet, so that the two halves need not cost the same. Without a copy (see can_fork),
    or for what the copy claimed but did not answer, this process does the work itself."""
    if count < 2 or not can_fork():
        return [do(item) for item in range(count)]
    context = multiprocessing.get_context("fork")
    try:
        lock = context.Lock()
        ends = context.RawArray("q", [0, count])  # the next item from the front; the first claimed from the back
    except OSError:  # no shared memory for the semaphore (a container without /dev/shm)
        return [do(item) for item in range(count)]

    def claim(front: bool) -> int | None:
        with lock:
            if ends[0] >= ends[1]:
                return None
            if front:
                ends[0] += 1
                return ends[0] - 1
            ends[1] -= 1
            return ends[1]

    def from_back(send: Callable[[Any], None]) -> None:
        while (item := claim(front=False)) is not None:
            send(do(item))

    helper = Forked.start(from_back)
    results: list[Any] = []
    try:
        while (item := claim(front=True)) is not None:
            results.append(do(item))
        theirs = helper.answer()[1] if helper is not None else []
    finally:
        if helper is not None:
            helper.close()
    # What the copy answered is the last items, from the end; anything in between it claimed and did not
    # answer is done here.
    done = count - len(theirs)
    return results + [do(item) for item in range(len(results), done)] + theirs[::-1]
