"""Overlapping stages in threads: a producer runs ahead of its consumer through a bounded queue.

Used by the video predictor so that decoding, the network and encoding overlap: OpenCV,
OpenVINO, ONNX Runtime and torch release the GIL in their C++ code, so Python threads suffice.
An exception in a stage's thread is raised again in the caller's thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, err: BaseException) -> None:
        self.err = err


class StageClock:
    """Seconds spent in each named stage, summed over calls (stages overlap, so the sum of the
    stages may exceed the wall time: that overlap is the point)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        """Add ``seconds`` to ``stage``."""
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def timed(self, stage: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, its time added to ``stage``."""
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.add(stage, time.perf_counter() - start)


def run_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """The items of ``items``, produced in a background thread at most ``depth`` items ahead.

    Leaving the loop early (or an error in the loop) stops the producer at its next item and
    waits for it, so the caller may close the producer's source right after."""
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as err:  # handed to the consumer, which raises it
            q.put(_Failure(err))

    thread = threading.Thread(target=produce, name="polypnet-producer", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.err
            yield item
    finally:
        # Wait for the producer to let go of its source (a video capture the caller releases next).
        stop.set()
        while thread.is_alive():
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


class Consumer(Generic[T]):
    """Calls ``fn(item)`` for each submitted item in a background thread, in order, with at most
    ``depth`` items waiting; ``close`` waits for the last one and raises the first error."""

    def __init__(self, fn: Callable[[T], None], depth: int = 2) -> None:
        self._fn = fn
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="polypnet-consumer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._q.get()
            if item is _DONE:
                return
            if self._error is None:  # after a failure, drain without working
                try:
                    self._fn(item)
                except BaseException as err:
                    self._error = err

    def submit(self, item: T) -> None:
        """Queue ``item`` (blocks while ``depth`` items wait); raises an earlier item's error."""
        if self._error is not None:
            raise self._error
        self._q.put(item)

    def close(self) -> None:
        """Wait for every queued item; raise the first error any of them raised."""
        self._q.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Consumer[T]:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()
        else:  # the caller failed: stop the worker, keep the caller's error
            self._q.put(_DONE)
            self._thread.join()
