"""Which code made a record: the commit of polypnet's own checkout.

Kept apart from the commands that train, so that the small scripts which stamp records
(scripts/gpu_session_record.py, scripts/gpu_bundle_record.py) start without loading Lightning.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

#: src/polypnet of the running copy: the checkout's, or an installed copy's.
_PACKAGE = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The commit of polypnet's own checkout (with ``-dirty`` when it has changes) when polypnet
    runs from one, else ``unknown``: an installed copy inside another project's repository (a
    virtual environment in it) must not name that project's commit."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=_PACKAGE, capture_output=True, text=True, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() / "src" / "polypnet" != _PACKAGE:
            return "unknown"
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
