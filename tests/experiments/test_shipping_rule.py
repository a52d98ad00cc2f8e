"""The rule that picks shipped weights (best validation Dice among comparable records), checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polypnet.experiments import report
from polypnet.experiments.shipping_rule import rule_violations


def _record(root: Path, name: str, val_dice: list[float], split: str = "random") -> str:
    folder = root / "results" / "improved"
    (folder / f"{name}_run").mkdir(parents=True)
    record = {"dataset": "cvc-clinicdb", "split": split, "split_seed": 42, "image_size": 256, "epochs": 40}
    (folder / f"{name}.json").write_text(json.dumps(record))
    rows = ["epoch,val/dice_global,test/dice_global"] + [f"{e},{v},0.99" for e, v in enumerate(val_dice)]
    rows.append("40,,0.999")  # the test row: no validation value, and the test score never counts
    (folder / f"{name}_run" / "metrics.csv").write_text("\n".join(rows) + "\n")
    return f"results/improved/{name}.json"


def _index(shipped: str) -> dict:
    return {"iam_unet": {"cvc-clinicdb-improved": {"result_file": shipped}}}


def test_a_record_with_a_better_validation_dice_breaks_the_rule(tmp_path: Path) -> None:
    shipped = _record(tmp_path, "cvc-clinicdb_seed42", [0.80, 0.90])
    _record(tmp_path, "cvc-clinicdb_seed43_split42", [0.85, 0.89])
    assert rule_violations(tmp_path, _index(shipped)) == []
    better = _record(tmp_path, "cvc-clinicdb_seed44_split42", [0.91])
    _record(tmp_path, "cvc-clinicdb_seed45_sequence", [0.99], split="sequence")  # another split: not a candidate
    (problem,) = rule_violations(tmp_path, _index(shipped))
    assert problem.startswith(f"cvc-clinicdb-improved: ships {shipped} (best validation Dice 0.9000) but {better}")
    assert f"polypnet ship-weights {better} --tag cvc-clinicdb-improved" in problem


def test_make_docs_refuses_to_render_when_the_rule_is_broken(tmp_path: Path) -> None:
    shipped = _record(tmp_path, "cvc-clinicdb_seed42", [0.90])
    _record(tmp_path, "cvc-clinicdb_seed43_split42", [0.95])
    index = tmp_path / "index.json"
    index.write_text(json.dumps(_index(shipped)))
    with pytest.raises(ValueError, match="break the rule"):
        report.render(tmp_path, index)
