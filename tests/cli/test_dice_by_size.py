"""polypnet compare sizes on small synthetic per_image.csv files (no real data needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from polypnet.cli.dice_by_size import bin_labels, bin_of, main

from .per_image_csv import write_per_image


def test_bins_cut_at_their_edges() -> None:
    edges = [0.02, 0.05, 0.2]
    assert bin_labels(edges) == ["< 2%", "2%-5%", "5%-20%", ">= 20%"]
    assert [bin_of(f, edges) for f in (0.0, 0.019, 0.02, 0.049, 0.05, 0.3)] == [0, 0, 1, 1, 2, 3]


def test_table_and_figure_of_two_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_per_image(
        tmp_path / "a" / "per_image.csv",
        [
            ("s1", 0.0, 0.01, 0.0),  # small, missed, nothing predicted
            ("s2", 0.6, 0.03, 0.02),  # small
            ("l1", 0.9, 0.30, 0.28),
            ("l2", 0.7, 0.10, 0.12),
        ],
    )
    b = write_per_image(tmp_path / "b" / "per_image.csv", [("s1", 0.4, 0.01, 0.05), ("l1", 0.8, 0.30, 0.3)])
    out = tmp_path / "size"
    assert main([str(a), str(b), "--labels", "A", "B", "--out", str(out)]) == 0
    table = (out / "size.md").read_text()
    # median of 0, 0.6, 0.7, 0.9 = 0.65; under 0.5: 1; missed 1; empty 1; small mean (0 + 0.6) / 2
    assert "| A | 4 | 0.650 | 1 | 1 | 1 | 0.300 (2) | 0.000 (1) | 0.600 (1) | 0.700 (1) | 0.900 (1) |" in table
    assert "| B | 2 | 0.600 | 1 | 0 | 0 | 0.400 (1) | 0.400 (1) | - (0) | - (0) | 0.800 (1) |" in table
    assert (out / "size.png").stat().st_size > 5000
    printed = capsys.readouterr().out
    assert "| A | 4 |" in printed and "figure:" in printed


def test_bad_arguments_name_the_problem(tmp_path: Path) -> None:
    a = write_per_image(tmp_path / "a" / "per_image.csv", [("x", 0.5, 0.1, 0.1)])
    with pytest.raises(SystemExit, match="2 labels for 1 files"):
        main([str(a), "--labels", "A", "B"])
    with pytest.raises(SystemExit, match="increasing fractions between 0 and 1"):
        main([str(a), "--edges", "0.2", "0.05"])
    with pytest.raises(SystemExit, match="share the label"):
        main([str(a), str(a)])
    with pytest.raises(SystemExit, match="missing.csv: no such file"):
        main([str(tmp_path / "missing.csv")])
