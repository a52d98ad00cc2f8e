"""One training process per run folder: a second ``fit`` (or ``reproduce``) on a folder in use stops.

Two processes resuming the same run would both trim and append its ``metrics.csv`` and race for
its checkpoints; the second is refused with one line instead. The lock is an advisory ``flock`` on
``RUN/.lock``, released when the holder exits however it ends (killed included), so a stale lock
file never blocks a resume.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not guarded
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
#: Set by Lightning in the processes it starts for the other devices (DDP re-runs the command):
#: those train the same run as their launcher, which holds the lock.
_RANK_VARIABLES = ("LOCAL_RANK", "NODE_RANK")


class RunFolderBusy(ValueError):
    """Another process is training in this run folder."""


@contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block (creating the folder); ``RunFolderBusy`` if another holds it."""
    if fcntl is None or any(os.environ.get(name, "0") != "0" for name in _RANK_VARIABLES):
        yield
        return
    created = [d for d in (run_dir, *run_dir.parents) if not d.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(run_dir / LOCK_FILE, "a+") as handle:
            yield from _hold(handle, run_dir)
    finally:
        for folder in created:  # deepest first: what a failed start left empty goes
            try:
                folder.rmdir()
            except OSError:
                pass


def _hold(handle: IO[str], run_dir: Path) -> Iterator[None]:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        raise RunFolderBusy(
            f"{run_dir} is in use by another training process (pid {holder}); wait for it to end or stop it"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
