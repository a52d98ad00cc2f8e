"""``polypnet data check`` (polypnet.data.check): report and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polypnet.cli.data import CHECK_FORMAT
from polypnet.cli.data import check_main as main
from polypnet.data.check import DataSummary, report_lines
from polypnet.data.near_duplicates import difference_hash

from .conftest import MakeDataset

REPO = Path(__file__).resolve().parents[2]


def test_sample_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample"]) == 0
    out = capsys.readouterr().out
    assert "layout:      kvasir-seg (images/ + masks/), dataset kvasir-seg" in out
    assert "pairs:       16" in out and "image size:  width 320..320" in out
    assert "foreground:  min" in out and "problems:    none" in out


def test_problems_are_listed_and_exit_non_zero(make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset(n=4)
    (root / "masks" / "s00.png").unlink()
    (root / "images" / "s01.jpg").write_bytes(b"junk")
    assert main([str(root), "--headers-only"]) == 1
    out = capsys.readouterr().out
    assert "problems:    2" in out
    assert f"{root / 'images' / 's00.jpg'}: image without mask" in out
    assert f"{root / 'images' / 's01.jpg'}: unreadable image" in out


def test_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope")]) == 1
    assert "root folder not found" in capsys.readouterr().out


def test_the_command_runs_in_a_process_of_its_own(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=2)
    command = [sys.executable, "-m", "polypnet.cli.main", "data", "check", str(root)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "layout:      generic" in result.stdout


def test_out_writes_a_record_whose_report_is_the_printed_one(
    make_dataset: MakeDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset(n=3)
    (root / "masks" / "s00.png").unlink()
    out = tmp_path / "check.json"
    assert main([str(root), "--out", str(out)]) == 1
    printed = capsys.readouterr().out.splitlines()
    record = json.loads(out.read_text())
    assert record["format"] == CHECK_FORMAT and record["command"] == f"polypnet data check {root} --out {out}"
    summary = DataSummary.from_dict(record["summary"])
    assert summary.pairs == 2 and len(summary.problems) == 1 and summary.foreground is not None
    assert report_lines(summary) == printed  # the root is kept as typed, which here is the absolute path


def test_masks_with_levels_between_0_and_255_are_counted(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset(n=3)
    soft = np.zeros((48, 64), np.uint8)  # the fixture's image size
    soft[8:24, 8:24] = 255
    soft[8, 8:24] = 128  # a soft edge: still foreground (> 127)
    Image.fromarray(soft).save(root / "masks" / "s01.png")
    assert main([str(root)]) == 0
    assert "mask values: 1 of 3 masks hold values other than 0 and 255" in capsys.readouterr().out


def test_near_duplicates_are_found_and_listed(make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset(n=3)
    yy, xx = np.mgrid[:48, :64]
    scene = (np.sin(xx / 5.0) * 60 + np.cos(yy / 3.0) * 60 + 128).astype(np.uint8)  # structure at the hash's scale
    other = np.rot90(scene, 2).copy()
    frames = {"s00": scene, "s01": other, "s02": np.clip(scene.astype(np.int16) + 12, 0, 255).astype(np.uint8)}
    for name, gray in frames.items():  # s02: s00 re-exposed and re-encoded
        Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(root / "images" / f"{name}.jpg", quality=85)
    assert difference_hash(np.repeat(scene[..., None], 3, axis=2)).shape == (32,)
    assert main([str(root)]) == 0
    out = capsys.readouterr().out
    assert "near-dups:   1 image pair within 10 of 256 hash bits\n  - s00 / s02 (" in out


def test_kvasir_near_duplicates_are_all_official_training_images() -> None:
    """docs/data.md says so; the committed check record is where the pairs are listed."""
    from polypnet.data.shipped import kvasir_official

    record = json.loads((REPO / "results/data/kvasir-seg_check.json").read_text())
    pairs = record["summary"]["near_duplicates"]
    assert pairs and all({a, b} <= set(kvasir_official()["train"]) for a, b, _ in pairs)
