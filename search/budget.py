"""One time budget per request, and a limit on how many requests may do expensive work at once.

A :class:`Budget` is created when a request starts (``SearchEngine.search``, the article
page's calls, or once for a whole web request by :func:`scope`) and is checked inside every
loop whose work grows with the input: matching, reranking, snippets, highlighting,
more-like-this. Over budget, matching refuses the query (``BadQuery``: nothing useful can be
shown) and the later stages stop where they are and mark the result partial.

Most requests need a few milliseconds of CPU. A request that has used more than
``EXPENSIVE_CPU`` seconds of its thread's CPU must hold one of a :class:`Limiter`'s few slots
to go on, so expensive queries cannot take every core and every server thread: beyond the
slots they wait (inside their own budget), and beyond ``waiting`` waiters they are refused
at once with :class:`Overloaded` (HTTP 503 with ``Retry-After``). CPU time, not wall time,
decides what is expensive: an ordinary query slowed down by a busy machine uses little CPU
and never queues behind the expensive ones.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Iterator

from .errors import BadQuery, XunwenError

__all__ = ["not_counted", "Budget", "Limiter", "OverBudget", "Overloaded", "BUDGET_SECONDS", "EXPENSIVE_CPU",
           "HARD_SLACK", "current", "guard", "scope", "LIMITER"]

log = logging.getLogger(__name__)

BUDGET_SECONDS = 3.0
EXPENSIVE_CPU = 0.4  # thread CPU seconds after which a request needs an expensive-work slot
HARD_SLACK = 0.5  # seconds past the deadline after which any read of the index refuses (see guard)
FINISH_RESERVE = 0.5  # seconds of the budget a request waiting for a slot keeps to finish partially
RETRY_AFTER = 2  # seconds a refused client is told to wait


class OverBudget(BadQuery):
    """The request's time budget ran out (a 400 when nothing could be matched in time)."""


class Overloaded(XunwenError):
    """Too many expensive requests at once; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = RETRY_AFTER):
        super().__init__(message)
        self.retry_after = retry_after


class Limiter:
    """At most ``slots`` requests doing expensive work, at most ``waiting`` more queued."""

    def __init__(self, slots: int = 1, waiting: int = 4):
        self.slots = max(1, slots)
        self.waiting = max(0, waiting)
        self._sem = threading.BoundedSemaphore(self.slots)
        self._lock = threading.Lock()
        self._waiters = 0

    def acquire(self, timeout: float) -> bool:
        """Take a slot within ``timeout`` seconds; False when none freed; Overloaded when the queue is full."""
        if self._sem.acquire(blocking=False):
            return True
        with self._lock:
            if self._waiters >= self.waiting:
                raise Overloaded("the server is busy with expensive queries; retry in a moment")
            self._waiters += 1
        try:
            return self._sem.acquire(timeout=max(0.0, timeout))
        finally:
            with self._lock:
                self._waiters -= 1

    def release(self) -> None:
        """Give a slot back."""
        self._sem.release()


# The process-wide limiter; web.serve sizes it for its thread count.
LIMITER = Limiter()


class Budget:
    """A deadline for one request, checked by every stage whose work grows with its input."""

    def __init__(self, seconds: float = BUDGET_SECONDS, limiter: Limiter | None = None):
        self.seconds = seconds
        self.start = time.monotonic()
        self.deadline = self.start + seconds
        self.partial = False  # set by a stage that stopped early
        self._limiter = LIMITER if limiter is None else limiter
        self._cpu0 = time.thread_time()
        self._thread = threading.get_ident()
        self._slot = False
        self._unguarded = 0

    def elapsed(self) -> float:
        """Seconds since the request started."""
        return time.monotonic() - self.start

    def remaining(self) -> float:
        """Seconds left (negative when over)."""
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        """True when the budget is spent; waits for an expensive-work slot when one is needed."""
        now = time.monotonic()
        if now > self.deadline:
            return True
        # A thread's CPU time never exceeds the wall time since it started (pauses only take
        # from the CPU counted), so the clock of the thread (a system call, ~4 us, rescheduled
        # under load) is read only once the request has run that long.
        if (not self._slot and now - self.start > EXPENSIVE_CPU and threading.get_ident() == self._thread
                and time.thread_time() - self._cpu0 > EXPENSIVE_CPU):
            # Wait no longer than leaves time to finish a partial answer within the budget.
            if not self._limiter.acquire(self.deadline - now - FINISH_RESERVE):
                self.deadline = min(self.deadline, time.monotonic())
                return True
            self._slot = True
        return False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Do not count the time inside (building a snapshot's caches is not this request's cost)."""
        t, c = time.monotonic(), time.thread_time()
        try:
            with self.unguarded():
                yield
        finally:
            self.deadline += time.monotonic() - t
            self._cpu0 += time.thread_time() - c

    @contextlib.contextmanager
    def unguarded(self) -> Iterator[None]:
        """Let the reads inside run past the deadline (the few reads that finish a partial answer)."""
        self._unguarded += 1
        try:
            yield
        finally:
            self._unguarded -= 1

    def overdue(self) -> bool:
        """True when the request is HARD_SLACK past its deadline outside an unguarded block."""
        return not self._unguarded and time.monotonic() > self.deadline + HARD_SLACK

    def expensive(self) -> None:
        """Take an expensive-work slot now (a request known to be expensive before it starts);
        raise OverBudget when none frees within the budget, Overloaded when the queue is full."""
        if not self._slot:
            if not self._limiter.acquire(self.remaining() - FINISH_RESERVE):
                raise OverBudget(f"the server is busy; the query did not start within {self.seconds:g} s")
            self._slot = True

    def check(self, what: str = "the query") -> None:
        """Raise OverBudget when the budget is spent."""
        if self.expired():
            raise OverBudget(
                f"{what} is too expensive (over {self.seconds:g} s); use fewer or rarer words"
            )

    def stop(self) -> bool:
        """Return True (and mark the result partial) when a stage should stop now."""
        if self.expired():
            self.partial = True
            return True
        return False

    def close(self) -> None:
        """Give back the expensive-work slot, if this request took one."""
        if self._slot:
            self._slot = False
            self._limiter.release()


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("xunwen_budget", default=None)


def current() -> Budget | None:
    """Return the budget of the request running in this context, if any."""
    return _CURRENT.get()


def guard() -> None:
    """Raise OverBudget when the running request is long past its deadline.

    Called by the engine's index storage on reads, so that a loop somewhere that forgot to
    check the budget still ends soon after it (stages check ``stop()`` themselves first)."""
    b = _CURRENT.get()
    if b is not None and b.overdue():
        raise OverBudget(f"the query is too expensive (over {b.seconds:g} s); use fewer or rarer words")


@contextlib.contextmanager
def not_counted() -> Iterator[None]:
    """Leave a one-time load out of the running request's budget (a table read once per
    process: the first query that needs it is not "too expensive" for it)."""
    b = _CURRENT.get()
    if b is None:
        yield
        return
    with b.paused():
        yield


@contextlib.contextmanager
def scope(seconds: float = BUDGET_SECONDS) -> Iterator[Budget]:
    """Run a request under one budget: the one already active, or a new one closed at the end."""
    got = _CURRENT.get()
    if got is not None:
        yield got
        return
    b = Budget(seconds)
    token = _CURRENT.set(b)
    try:
        yield b
    finally:
        _CURRENT.reset(token)
        b.close()
