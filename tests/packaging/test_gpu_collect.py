"""scripts/gpu_collect.py: the checkpoints of a GPU session packed into the files the device tool returns."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import torch

from ..conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_collect.py"


def _run_dir(root: Path, name: str, best: tuple[str, ...], last: bool = False, pad: int = 0) -> Path:
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    for ckpt in best:
        state = {"state_dict": {"w": torch.zeros(4)}, "optimizer_states": [{"pad": torch.zeros(pad)}], "loops": {}}
        torch.save({**state, "name": ckpt}, run / "checkpoints" / ckpt)
    if last:
        torch.save({"state_dict": {}, "optimizer_states": [1], "name": "last"}, run / "checkpoints" / "last.ckpt")
    return run


def _collect(out: Path, *entries: str, **options: str) -> subprocess.CompletedProcess[str]:
    flags = [a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", v)]
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *flags, *entries], capture_output=True, text=True, check=True
    )


def _members(out: Path) -> dict[str, dict]:
    found = {}
    for part in sorted(out.glob("checkpoints-*.tar")):
        with tarfile.open(part) as tar:
            for m in tar.getmembers():
                found[m.name] = torch.load(tar.extractfile(m), weights_only=True)
    return found


def test_best_slimmed_and_a_stopped_run_keeps_its_last(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = _run_dir(tmp_path, "a", ("best-epoch003-dice0.8000.ckpt", "best-epoch009-dice0.8500.ckpt"))
    cut = _run_dir(tmp_path, "b", ("best-epoch002-dice0.7000.ckpt",), last=True)
    _collect(out, f"finished:paper_a:{done}", f"stopped:paper_b:{cut}")
    got = _members(out)
    assert sorted(got) == [
        "paper_a__best-epoch009-dice0.8500.ckpt",  # the best by its Dice, not the latest name
        "paper_b__best-epoch002-dice0.7000.ckpt",
        "paper_b__last.ckpt",
    ]
    assert "optimizer_states" not in got["paper_a__best-epoch009-dice0.8500.ckpt"]
    assert torch.equal(got["paper_a__best-epoch009-dice0.8500.ckpt"]["state_dict"]["w"], torch.zeros(4))
    assert got["paper_b__last.ckpt"]["optimizer_states"] == [1]  # whole: the run resumes from it


def test_what_does_not_fit_is_named_and_the_first_entries_win(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "gpu_results.tar.gz").write_bytes(b"x" * 1000)
    runs = [_run_dir(tmp_path, f"r{i}", ("best-epoch001-dice0.5000.ckpt",)) for i in range(4)]
    size = len((runs[0] / "checkpoints" / "best-epoch001-dice0.5000.ckpt").read_bytes())
    # Room for three slimmed checkpoints in two tars of two at most.
    mib = 1 << 20
    done = _collect(
        out,
        *(f"finished:j{i}:{run}" for i, run in enumerate(runs)),
        limit_mib=str((1000 + 3.5 * size) / mib),
        part_mib=str(2.5 * size / mib),
        max_files="3",
    )
    got = _members(out)
    assert sorted(got) == [f"j{i}__best-epoch001-dice0.5000.ckpt" for i in range(3)], done.stdout
    assert "no room for j3" in done.stdout
    assert len(list(out.glob("checkpoints-*.tar"))) == 2
    # A second call rewrites the tars rather than adding to them.
    _collect(out, f"finished:j3:{runs[3]}")
    assert sorted(_members(out)) == ["j3__best-epoch001-dice0.5000.ckpt"]
