"""polypnet compare sequences on a small synthetic per_image.csv (no real data needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from polypnet.cli.per_sequence import main
from polypnet.data.shipped import cvc_sequences

from .per_image_csv import write_per_image


def test_frames_are_grouped_by_their_sequence(tmp_path: Path, capsys) -> None:
    seq = cvc_sequences()
    first, last = seq["1"], seq["612"]
    assert first != last
    csv_path = write_per_image(
        tmp_path / "per_image.csv",
        [
            ("1", 0.8, 0.10, 0.09),
            ("2", 0.6, 0.10, 0.08),  # first sequence: mean 0.70
            ("612", 0.0, 0.02, 0.0),  # last sequence: missed, nothing predicted
        ],
    )
    assert main([str(csv_path), "--out", str(tmp_path / "table.md")]) == 0
    table = (tmp_path / "table.md").read_text()
    assert f"| {first} | 2 | 0.70 | 0 | 0 | 10.0% |" in table
    assert f"| {last} | 1 | 0.00 | 1 | 1 | 2.0% |" in table
    assert "All 3 frames: median Dice 0.60, 1 missed, 1 under 0.5." in table
    assert table.strip() == capsys.readouterr().out.strip()


def test_bad_inputs_name_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no such file"):
        main([str(tmp_path / "missing.csv")])
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,score\n1,0.5\n")
    with pytest.raises(SystemExit, match="wrong.csv: expected a per_image.csv with columns"):
        main([str(wrong)])
    with pytest.raises(SystemExit, match="not in CVC-ClinicDB's sequence table: cju0qkwl35piu0993l0dewei2"):
        main([str(write_per_image(tmp_path / "kvasir.csv", [("cju0qkwl35piu0993l0dewei2", 0.5, 0.1, 0.1)]))])
