"""scripts/device_tree.py: what a device call sends, and slim/restore around it, in a throwaway git repo."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "device_tree.py"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _load():
    spec = importlib.util.spec_from_file_location("device_tree", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    weights = root / "src" / "polypnet" / "models" / "resources" / "weights"
    weights.mkdir(parents=True)
    (root / "results" / "paper").mkdir(parents=True)
    (root / "results" / "paper" / "overlays.png").write_bytes(b"\0" * 700_000)
    (weights / "iam_unet__kvasir-seg.pt").write_bytes(b"\1" * 500_000)
    (weights / "index.json").write_text("{}\n")
    (root / "src" / "polypnet" / "__init__.py").write_text("")
    (root / ".gitignore").write_text("/runs/\n")
    (root / "runs").mkdir()
    (root / "runs" / "ignored.ckpt").write_bytes(b"\2" * 900_000)
    for args in (["init", "-q"], ["config", "user.email", "t@t"], ["config", "user.name", "t"],
                 ["add", "-A"], ["commit", "-q", "-m", "init"]):
        assert _git(root, *args).returncode == 0
    (root / "notes.txt").write_text("untracked, not ignored\n")
    return root


def test_size_counts_what_travels_and_fails_over_the_limit(repo: Path, capsys) -> None:
    tree = _load()
    (repo / ".gpu").mkdir()
    (repo / ".gpu" / "pack.bin").write_bytes(b"\3" * 300_000)
    sizes = tree.travelling_files(repo, [".gpu"])
    assert "runs/ignored.ckpt" not in sizes  # ignored and not carried
    assert {"notes.txt", ".gpu/pack.bin", "results/paper/overlays.png"} <= set(sizes)
    assert sum(sizes.values()) > 1_500_000
    assert tree.main(["size", "--carry", ".gpu", "--limit-mib", "1", "--repo", str(repo)]) == 1
    assert "over the device tool's 1 MiB" in capsys.readouterr().err
    assert tree.main(["size", "--carry", ".gpu", "--limit-mib", "2", "--repo", str(repo)]) == 0


def test_slim_leaves_results_and_weights_behind_and_restore_undoes_it(repo: Path) -> None:
    tree = _load()
    exclude = repo / ".git" / "info" / "exclude"
    exclude_before = exclude.read_text()
    assert tree.main(["slim", "--limit-mib", "0.5", "--repo", str(repo)]) == 0
    sizes = tree.travelling_files(repo)
    assert "results/paper/overlays.png" not in sizes
    assert "src/polypnet/models/resources/weights/iam_unet__kvasir-seg.pt" not in sizes
    assert "src/polypnet/models/resources/weights/index.json" in sizes  # the package still imports
    assert (repo / "results" / "paper" / "overlays.png").stat().st_size == 700_000  # still on disk
    assert _git(repo, "commit", "-q", "-m", "would delete results").returncode != 0  # the hook refuses
    assert tree.is_slim(repo)
    with pytest.raises(SystemExit, match="already slim"):
        tree.slim(repo)

    assert tree.main(["restore", "--repo", str(repo)]) == 0
    assert not tree.is_slim(repo)
    assert exclude.read_text() == exclude_before
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert _git(repo, "status", "--porcelain").stdout.splitlines() == ["?? notes.txt"]
    assert "results/paper/overlays.png" in tree.travelling_files(repo)


def test_slim_refuses_staged_changes(repo: Path) -> None:
    tree = _load()
    (repo / "src" / "polypnet" / "new.py").write_text("x = 1\n")
    assert _git(repo, "add", "src/polypnet/new.py").returncode == 0
    with pytest.raises(SystemExit, match="staged changes"):
        tree.slim(repo)
    assert not tree.is_slim(repo)
