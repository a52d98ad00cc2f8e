#!/usr/bin/env python
"""Keep what travels to the lent GPU machine under the device tool's 64 MiB (docs/gpu.md).

    python scripts/device_tree.py size --carry .gpu     # what a device call would send, by folder
    python scripts/device_tree.py slim                  # stop sending results/ and the shipped weights
    python scripts/device_tree.py restore               # undo slim (always run it after the call)

The device tool sends the checkout's tracked files, its untracked files that git does not
ignore, and the paths named in ``carry``: 64 MiB in all. The committed ``results/`` and the
shipped weights (``*.pt``) are larger than that by themselves, and the GPU run needs neither (it
trains from scratch and writes its results outside the tree). ``slim`` drops them from git's index
only (``git rm --cached``: every file stays on disk, HEAD is untouched), ignores them in
``.git/info/exclude`` and installs a pre-commit hook that refuses to commit while slim, so that
the staged deletions cannot land by mistake; ``restore`` puts the index, the exclude file and the
hook back as they were. ``size`` exits 1 when the total is over the limit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

LIMIT_MIB = 64
#: Tracked paths the GPU run does not need, as git pathspecs (relative to the repository root).
HEAVY = ("results", "src/polypnet/models/resources/weights/*.pt")
#: The same paths as .git/info/exclude patterns: anchored at the root, a folder with its slash.
EXCLUDE_LINES = tuple(f"/{p}" if "*" in p else f"/{p}/" for p in HEAVY)
MARK_BEGIN = "# >>> scripts/device_tree.py slim (restore removes this block)"
MARK_END = "# <<< scripts/device_tree.py slim"
HOOK_TAG = "scripts/device_tree.py"
HOOK = f"""#!/bin/sh
# Installed by {HOOK_TAG} slim: results/ and the shipped weights are out of the index for a
# device call; committing now would delete them. Run `python scripts/device_tree.py restore`.
echo "refusing to commit: the tree is slimmed for a device call; run python scripts/device_tree.py restore" >&2
exit 1
"""


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: git {' '.join(args)} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def repo_root(start: Path) -> Path:
    """The root of the git checkout holding ``start``."""
    return Path(_git(start, "rev-parse", "--show-toplevel").strip())


def _exclude_and_hook(root: Path) -> tuple[Path, Path]:
    """The checkout's ``info/exclude`` file and ``pre-commit`` hook (one git call for both)."""
    git_dir = (root / _git(root, "rev-parse", "--git-dir").strip()).resolve()
    return git_dir / "info" / "exclude", git_dir / "hooks" / "pre-commit"


def travelling_files(root: Path, carry: Sequence[str] = ()) -> dict[str, int]:
    """Bytes of each file a device call would send: tracked files present on disk, untracked ones
    git does not ignore, ``shared/`` where the checkout has one, and every file under ``carry``."""
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    extra = [p for p in ["shared", *carry] if (root / p).exists()]
    for top in extra:
        base = root / top
        walked = [base] if base.is_file() else [Path(d) / f for d, _, fs in os.walk(base) for f in fs]
        listed += [str(p.relative_to(root)) for p in walked]
    sizes: dict[str, int] = {}
    for rel in filter(None, listed):
        path = root / rel
        if path.is_file() and not path.is_symlink():
            sizes[rel] = path.stat().st_size
    return sizes


def by_folder(sizes: dict[str, int], depth: int = 2) -> Counter[str]:
    """Bytes summed by the first ``depth`` parts of each path."""
    out: Counter[str] = Counter()
    for rel, n in sizes.items():
        out["/".join(Path(rel).parts[:depth])] += n
    return out


def is_slim(root: Path) -> bool:
    """Whether ``slim`` is in effect (its block is in ``.git/info/exclude``)."""
    exclude, _ = _exclude_and_hook(root)
    return exclude.is_file() and MARK_BEGIN in exclude.read_text()


def slim(root: Path) -> list[str]:
    """Take :data:`HEAVY` out of the index and ignore it; return the paths untracked."""
    if is_slim(root):
        raise SystemExit("error: already slim; run `python scripts/device_tree.py restore` first")
    if _git(root, "diff", "--cached", "--name-only").strip():
        raise SystemExit("error: the index holds staged changes; commit or unstage them first "
                         "(restore resets these paths in the index)")
    exclude, hook = _exclude_and_hook(root)
    if hook.exists() and HOOK_TAG not in hook.read_text():
        raise SystemExit(f"error: {hook} exists and is not ours; slim would replace it")
    _git(root, "rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", *HEAVY)
    untracked = _git(root, "diff", "--cached", "--name-only").split()
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text() if exclude.is_file() else ""
    block = "\n".join([MARK_BEGIN, *EXCLUDE_LINES, MARK_END])
    exclude.write_text(text + ("" if not text or text.endswith("\n") else "\n") + block + "\n")
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(HOOK)
    hook.chmod(0o755)
    return untracked


def restore(root: Path) -> None:
    """Undo :func:`slim`: the index of those paths back to HEAD, the exclude block and the hook gone."""
    _git(root, "reset", "-q", "--", *HEAVY)
    exclude, hook = _exclude_and_hook(root)
    lines = exclude.read_text().splitlines() if exclude.is_file() else []
    if MARK_BEGIN in lines and MARK_END in lines:
        keep = lines[:lines.index(MARK_BEGIN)] + lines[lines.index(MARK_END) + 1:]
        exclude.write_text("\n".join(keep) + ("\n" if keep else ""))
    if hook.is_file() and HOOK_TAG in hook.read_text():
        hook.unlink()


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def report(root: Path, carry: Sequence[str], limit_mib: float) -> int:
    """Print the travelling size by folder; 1 when it is over ``limit_mib``."""
    sizes = travelling_files(root, carry)
    total = sum(sizes.values())
    for folder, n in by_folder(sizes).most_common(8):
        print(f"{_mib(n):>10}  {folder}")
    slimmed = is_slim(root)
    print(f"{_mib(total):>10}  in all: {len(sizes)} files, carry {list(carry) or '[]'}, "
          f"{'slim' if slimmed else 'not slim'} (limit {limit_mib:g} MiB)")
    if total > limit_mib * 1048576:
        hint = "" if slimmed else "; `python scripts/device_tree.py slim` leaves results/ and *.pt behind"
        print(f"error: over the device tool's {limit_mib:g} MiB{hint}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``size``, ``slim`` or ``restore``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["size", "slim", "restore"])
    parser.add_argument("--carry", nargs="*", default=[], help="paths a device call carries (size)")
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    root = repo_root(args.repo)
    if args.action == "slim":
        untracked = slim(root)
        print(f"slim: {len(untracked)} tracked files out of the index (still on disk); "
              "after the device call: python scripts/device_tree.py restore")
        return report(root, args.carry, args.limit_mib)
    if args.action == "restore":
        restore(root)
        print("restored: index, .git/info/exclude and hooks as before slim")
        return 0
    return report(root, args.carry, args.limit_mib)


if __name__ == "__main__":
    sys.exit(main())
