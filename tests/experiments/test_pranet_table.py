"""The PraNet-benchmark table: published file well-formed, rows quoted or measured, records read."""

from __future__ import annotations

import json
from pathlib import Path

from polypnet.experiments.polyp_benchmark import METRICS
from polypnet.experiments.pranet_table import RECORD_FORMAT, SETS, load_published, pranet_markdown


def test_published_file_is_cited_and_uses_known_metrics() -> None:
    models = load_published()
    assert [m["name"] for m in models] == ["PraNet", "Polyp-PVT"]
    for m in models:
        assert m["source"].startswith("https://arxiv.org/abs/") and m["citation"] and m["verified"]
        assert m["params"] is None and m["gflops"] is None  # not found in what was read: not quoted
        assert set(m["scores"]) == set(SETS)
        for values in m["scores"].values():
            assert set(values) == set(METRICS) - {"dice_05"}  # every field metric, as the authors give it
            assert all(0 < v < 1 for v in values.values())
    pranet = models[0]["scores"]
    assert (pranet["Kvasir"]["mdice"], pranet["CVC-ClinicDB"]["mdice"]) == (0.898, 0.899)


def record(tmp_path: Path, seed: int, mdice: float) -> Path:
    metrics = {k: 0.5 for k in METRICS} | {"mdice": mdice, "images": 2.0}
    path = tmp_path / f"pranet_seed{seed}.json"
    path.write_text(
        json.dumps(
            {
                "format": RECORD_FORMAT,
                "recipe": "improved",
                "seed": seed,
                "image_size": 64,
                "params": 571731,
                "gflops": {"352": 1.234},
                "sets": [{"name": "Kvasir", "dataset": "kvasir-seg", "metrics": metrics}],
            }
        )
    )
    return path


def test_table_puts_measured_rows_beside_quoted_ones(tmp_path: Path) -> None:
    record(tmp_path, 42, 0.87654)
    (tmp_path / "other.json").write_text('{"format": "something else"}')  # skipped
    text = pranet_markdown(tmp_path, relative_to=tmp_path)
    assert "| IAM-UNet, improved recipe, seed 42 | 571,731 | 1.23 | 64 px | measured: `pranet_seed42.json` |" in text
    assert "| IAM-UNet, improved recipe, seed 42 | 0.8765 |" in text  # four decimals, not rounded up
    assert "| PraNet (*quoted*) | 0.898 | 0.840 | 0.915 | 0.944 | 0.948 | 0.885 | 0.030 |" in text
    assert "| Polyp-PVT (*quoted*) | 0.917 | 0.864 | 0.925 | 0.956 | 0.962 | 0.911 | 0.023 |" in text
    assert "https://arxiv.org/abs/2108.06932" in text and "MICCAI 2020" in text
    assert "No PraNet-protocol run" not in text and text.count("seed 42 | 0.8765") == 1  # no CVC score: no row
    assert "### Kvasir" in text and "### CVC-ClinicDB" not in text  # no record scored on it: no table


def test_table_without_records_says_so() -> None:
    text = pranet_markdown()
    assert "No PraNet-protocol run is recorded yet" in text and "IAM-UNet" not in text
    assert all(f"### {name}" in text for name in SETS)
    assert "| PraNet (*quoted*) | 0.899 | 0.849 | 0.936 | 0.963 | 0.979 | 0.896 | 0.009 |" in text
    assert "| Polyp-PVT (*quoted*) | 0.937 | 0.889 | 0.949 | 0.985 | 0.989 | 0.936 | 0.006 |" in text


def test_counted_cost_fills_what_the_papers_do_not_state(tmp_path: Path) -> None:
    from polypnet.experiments.pranet_table import COST_RECORD_FORMAT

    cost = {"name": "PraNet", "code": "https://github.com/DengPingFan/PraNet", "commit": "0" * 40}
    (tmp_path / "cost.json").write_text(
        json.dumps({"format": COST_RECORD_FORMAT, "models": [cost | {"params": 32547319, "gflops": {"352": 26.004}}]})
    )
    text = pranet_markdown(tmp_path, relative_to=tmp_path)
    assert "| PraNet | 32,547,319 (*counted*) | 26.00 (*counted*) | 352 px |" in text
    assert "counted: `cost.json`" in text
    assert "| Polyp-PVT | – | – | 352 px |" in text  # not counted: still empty, never guessed


def test_committed_cost_record_names_the_authors_code() -> None:
    from polypnet.experiments.pranet_table import COST_RECORD_FORMAT, FLOPS_SIZE, load_records

    root = Path(__file__).resolve().parents[2] / "results" / "pranet"
    [(_, record)] = load_records(root, COST_RECORD_FORMAT)
    assert [m["name"] for m in record["models"]] == ["PraNet", "Polyp-PVT"]
    for m in record["models"]:
        assert len(m["commit"]) == 40 and m["code"].startswith("https://github.com/DengPingFan/")
        assert 20e6 < m["params"] < 40e6 and 10 < m["gflops"][str(FLOPS_SIZE)] < 40  # the ResNet/PVT-b2 class


def test_a_reduced_protocol_is_named_in_its_rows(tmp_path: Path) -> None:
    path = record(tmp_path, 42, 0.8)
    path.write_text(json.dumps(json.loads(path.read_text()) | {"protocol": "pranet128"}))
    text = pranet_markdown(tmp_path, relative_to=tmp_path)
    assert text.count("| IAM-UNet (`pranet128`), improved recipe, seed 42 |") == 2  # model row and Kvasir row


def test_seeds_of_one_setup_get_a_mean_row(tmp_path: Path) -> None:
    record(tmp_path, 42, 0.8)
    assert "mean ± std" not in pranet_markdown(tmp_path)  # one seed: its own row only
    record(tmp_path, 43, 0.9)
    other = record(tmp_path, 44, 0.1)
    other.write_text(json.dumps(json.loads(other.read_text()) | {"protocol": "pranet128"}))  # another setup
    text = pranet_markdown(tmp_path)
    assert "| IAM-UNet, improved recipe, mean ± std of 2 seeds (42, 43) | 0.8500 ± 0.0707 | 0.5000 ± 0.0000 |" in text
    assert "pranet128`), improved recipe, mean" not in text
