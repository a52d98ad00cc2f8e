"""polypnet compare tta: plain vs flipped scores of a real (tiny) run, on val and test."""

from __future__ import annotations

import json
from pathlib import Path

from polypnet.cli import compare_tta
from polypnet.cli import fit as fit_cli
from polypnet.data import sample_root


def test_table_compares_plain_and_flipped_scores_of_a_run(tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "tiny" / "seed0"
    code = fit_cli.main(
        [
            "--config",
            "quickstart",
            "--data.root",
            str(sample_root()),
            "--run_dir",
            str(run),
            "--trainer.max_epochs",
            "1",
            "--data.image_size",
            "32",
            "--data.repeats",
            "1",
            "--data.num_workers",
            "0",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    assert code == 0
    checkpoint = next((run / "checkpoints").glob("best-*.ckpt"))
    out = tmp_path / "tta"
    assert compare_tta.main([str(checkpoint), "--out", str(out)]) == 0

    rows = json.loads((out / "tta.json").read_text())
    assert [(r["run"], r["split"]) for r in rows] == [("tiny/seed0", "val"), ("tiny/seed0", "test")]
    for row in rows:
        runs = {
            m: json.loads((out / "tiny__seed0" / row["split"] / m / "metrics.json").read_text())
            for m in compare_tta.MODES
        }
        assert runs["plain"]["tta"] is False and runs["plain"]["flip"] is None
        assert runs["tta"]["tta"] is True and runs["hv"]["flip"] == "hv"
        for mode, record in runs.items():
            assert row[mode] == record["metrics"]
    table = (out / "tta.md").read_text()
    assert table.count("| `tiny/seed0` |") == 2 and "F1 h-flipped input" in table


def test_missing_checkpoint_is_named(tmp_path: Path, capsys) -> None:
    assert compare_tta.main([str(tmp_path / "nope.ckpt"), "--out", str(tmp_path)]) == 2
    assert "nope.ckpt" in capsys.readouterr().err
