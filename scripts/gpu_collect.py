"""Pack the checkpoints of a GPU session into the few files the device tool returns (gpu_reproduce.sh).

    python scripts/gpu_collect.py --out $OUT finished:NAME:RUN_DIR stopped:NAME:RUN_DIR ...

The device tool brings back at most 8 files, 16 MiB each and 64 MiB together, and a session has
eight jobs or more; so the checkpoints travel as tars (``checkpoints-1.tar``, ...), each member
named ``NAME__<its name in the run>``. Entries come in priority order:

* ``finished``: the run's best checkpoint (``best-*.ckpt``, the one with the highest validation
  Dice in its name), slimmed: the optimizer and loop states dropped, which evaluation and
  ``polypnet ship-weights`` never read, so about a third of the size.
* ``stopped`` (cut at the time limit): its ``last.ckpt`` whole, so that ``polypnet reproduce``
  resumes the run elsewhere, and its best checkpoint slimmed.

What does not fit what is left of the budget (after the files already in ``--out``) is named and
skipped; the finished runs come first. The best checkpoint is picked and read as ``polypnet
reproduce`` does (``polypnet.inference.checkpoint``), so run it where polypnet imports (the
device's ``PYTHONPATH`` has ``src``).
"""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

import torch

from polypnet.inference.checkpoint import best_checkpoints, safe_load

MIB = 1 << 20
#: What a Lightning checkpoint carries that evaluating or shipping its weights never reads.
TRAINING_ONLY = ("optimizer_states", "lr_schedulers", "loops")


def slim(source: Path, dest: Path) -> Path:
    """Write ``source`` without its training-only states to ``dest`` (once: kept between calls)."""
    if not dest.is_file():
        ckpt = safe_load(source)
        for key in TRAINING_ONLY:
            ckpt.pop(key, None)
        dest.parent.mkdir(parents=True, exist_ok=True)
        torch.save(ckpt, dest.with_suffix(".part"))
        dest.with_suffix(".part").rename(dest)
    return dest


def members(state: str, name: str, run_dir: Path, scratch: Path) -> list[tuple[Path, str]]:
    """The files one entry sends, as (file here, name in the tar)."""
    files = []
    if state == "stopped" and (run_dir / "checkpoints" / "last.ckpt").is_file():
        files.append((run_dir / "checkpoints" / "last.ckpt", f"{name}__last.ckpt"))
    best = next(reversed(best_checkpoints(run_dir)), None)  # best last
    if best is not None:
        files.append((slim(best, scratch / f"{name}__{best.name}"), f"{name}__{best.name}"))
    return files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("entries", nargs="*", help="STATE:NAME:RUN_DIR, STATE finished or stopped, in priority order")
    p.add_argument("--out", type=Path, required=True, help="the folder the device tool returns")
    p.add_argument("--scratch", type=Path, help="where slimmed checkpoints are kept (default: OUT-slim beside OUT)")
    p.add_argument(
        "--limit-mib", type=float, default=62.0, help="all files in OUT together (tool: 64; the log still grows)"
    )
    p.add_argument("--part-mib", type=float, default=15.5, help="one tar at most (tool: 16 per file)")
    p.add_argument("--max-files", type=int, default=8, help="files in OUT at most (tool: 8)")
    args = p.parse_args(argv)
    scratch = args.scratch or args.out.parent / (args.out.name + "-slim")
    for old in args.out.glob("checkpoints-*.tar"):
        old.unlink()
    others = [f for f in args.out.iterdir() if f.is_file()]
    budget = args.limit_mib * MIB - sum(f.stat().st_size for f in others)
    parts_left = args.max_files - len(others)
    parts: list[list[tuple[Path, str]]] = []
    sizes: list[int] = []
    for entry in args.entries:
        state, name, run_dir = entry.split(":", 2)
        group = members(state, name, Path(run_dir), scratch)
        if not group:
            continue
        need = sum(f.stat().st_size for f, _ in group)
        # A group (last + best) stays in one tar, so a stopped run resumes from one file.
        fits = [i for i, s in enumerate(sizes) if s + need <= args.part_mib * MIB]
        if need > budget or (not fits and (len(parts) >= parts_left or need > args.part_mib * MIB)):
            print(f"gpu_collect: no room for {name} ({need / MIB:.1f} MiB; {budget / MIB:.1f} MiB left)")
            continue
        if fits:
            parts[fits[0]].extend(group)
            sizes[fits[0]] += need
        else:
            parts.append(list(group))
            sizes.append(need)
        budget -= need
    for i, part in enumerate(parts, 1):
        tmp = args.out / f".checkpoints-{i}.tar.part"
        with tarfile.open(tmp, "w") as tar:
            for path, arcname in part:
                tar.add(path, arcname=arcname)
        tmp.rename(args.out / f"checkpoints-{i}.tar")
        print(f"gpu_collect: checkpoints-{i}.tar: " + ", ".join(a for _, a in part))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
