"""Records scored through a shipped tag go stale, and make docs says so, once the tag ships other weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polypnet.experiments import report
from polypnet.experiments.scored_weights import STAMP, stale_records
from polypnet.experiments.weights_tables import INDEX_SCORES

SCORES = [metric for _, metric in INDEX_SCORES]


def _index(sha: str) -> dict:
    return {"iam_unet": {"cvc-clinicdb": {"sha256": sha}, "kvasir-seg": {"sha256": "k" * 64}}}


def _scored(root: Path, name: str, stamp: dict[str, str], command: str | None = "polypnet compare x") -> str:
    path = root / "results" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {STAMP: stamp, "rows": []} | ({"command": command} if command else {})
    path.write_text(json.dumps(record))
    return f"results/{name}"


def test_a_record_of_weights_that_still_ship_is_not_stale(tmp_path: Path) -> None:
    _scored(tmp_path, "input_size/input_size.json", {"cvc-clinicdb": "a" * 64, "kvasir-seg": "k" * 64})
    (tmp_path / "results/paper").mkdir()
    (tmp_path / "results/paper/run.json").write_text(json.dumps({"metrics": {}}))  # names no weights
    assert stale_records(tmp_path, _index("a" * 64)) == []


def test_new_weights_behind_a_tag_make_its_records_stale_and_name_their_command(tmp_path: Path) -> None:
    scored = _scored(tmp_path, "input_size/input_size.json", {"cvc-clinicdb": "a" * 64, "kvasir-seg": "k" * 64})
    cross = _scored(tmp_path, "paper/cross/x/metrics.json", {"cvc-clinicdb": "a" * 64}, command=None)
    retired = _scored(tmp_path, "benchmark/cpu.json", {"cvc-clinicdb-128": "c" * 64})
    problems = stale_records(tmp_path, _index("b" * 64))
    assert problems == [
        f"{retired}: scored cvc-clinicdb-128 with weights that no longer ship under that tag: "
        "make it again with `polypnet compare x`",
        f"{scored}: scored cvc-clinicdb with weights that no longer ship under that tag: "
        "make it again with `polypnet compare x`",
        f"{cross}: scored cvc-clinicdb with weights that no longer ship under that tag: "
        "make it again with the command that made it",
    ]


def test_make_docs_refuses_to_render_over_a_stale_record(tmp_path: Path) -> None:
    (tmp_path / "w.safetensors").write_bytes(b"new weights")
    (tmp_path / "results").mkdir()
    (tmp_path / "results/shipped.json").write_text(
        json.dumps({"test_images": 1, "metrics": dict.fromkeys(SCORES, 0.9)})
    )
    entry = {"file": "w.safetensors", "result_file": "results/shipped.json", "sha256": "old"}
    index = tmp_path / "index.json"
    index.write_text(json.dumps({"iam_unet": {"cvc-clinicdb": entry}}))
    _scored(tmp_path, "input_size/input_size.json", {"cvc-clinicdb": "old"})
    with pytest.raises(ValueError, match="no longer ship"):
        report.render(tmp_path, index)
