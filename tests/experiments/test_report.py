"""The docs' numbers come from the records: region filling, the tables' arithmetic, the CVC-ClinicDB
leak computed from the committed splits, and the committed docs equal to what the records give."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from polypnet.data.shipped import cvc_sequences
from polypnet.experiments import leakage_report, report, run_tables, weights_tables
from polypnet.experiments import training_records as records

REPO = Path(__file__).resolve().parents[2]
SHARED_SEQUENCES = REPO.parent / "shared" / "data" / "cvc-clinicdb" / "sequences.csv"
RANDOM_SPLIT = REPO / "results" / "paper" / "cvc-clinicdb_seed42_run" / "split.json"


def _generated_documents() -> list[str]:
    """The documents with generated regions, relative to the root."""
    index = json.loads(report.INDEX_PATH.read_text())
    return [str(doc) for doc in report.regions(REPO, index)]


def test_fill_replaces_only_the_regions() -> None:
    text = "intro\n<!-- generated:a -->\nold\n<!-- /generated:a -->\nmiddle\n<!-- generated:b -->\n<!-- /generated:b -->\nend\n"
    out = report.fill(text, {"a": lambda: "new A\n", "b": lambda: "new B\n"})
    assert out == (
        "intro\n<!-- generated:a -->\nnew A\n<!-- /generated:a -->\nmiddle\n"
        "<!-- generated:b -->\nnew B\n<!-- /generated:b -->\nend\n"
    )
    assert report.fill(out, {"a": lambda: "new A\n", "b": lambda: "new B\n"}) == out


def test_fill_refuses_unknown_and_missing_regions() -> None:
    text = "<!-- generated:a -->\n<!-- /generated:a -->\n"
    with pytest.raises(ValueError, match=r"unknown \[\], missing \['b'\]"):
        report.fill(text, {"a": lambda: "", "b": lambda: ""})
    with pytest.raises(ValueError, match=r"unknown \['a'\]"):
        report.fill(text, {})


def test_metric_cells_are_a_percentage_or_mean_and_sample_std() -> None:
    from types import SimpleNamespace

    def run(dice: float) -> SimpleNamespace:
        return SimpleNamespace(metrics={"dice_global": dice, "dice_per_image": dice - 0.1, "iou_global": 0.5})

    assert run_tables.metric_cells([run(0.894052)]) == ["89.41", "79.41", "50.00"]
    assert run_tables.metric_cells([run(0.8), run(0.9)]) == ["85.00 ± 7.07", "75.00 ± 7.07", "50.00 ± 0.00"]


def record(
    tmp: Path, protocol: str, dataset: str, seed: int, dice: float, split: str = "random", precision: str = "32-true"
) -> None:
    tail = "" if split == "random" else f"_{split}"
    path = tmp / "results" / protocol / f"{dataset}_seed{seed}{tail}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = {"dice_global": dice, "dice_per_image": dice - 0.1, "iou_global": dice - 0.2, "iou_per_image": 0.5}
    path.write_text(
        json.dumps(
            {
                "protocol": protocol,
                "dataset": dataset,
                "split": split,
                "split_seed": seed,
                "seed": seed,
                "image_size": 256,
                "epochs": 40,
                "params": 571731,
                "test_images": 61,
                "wall_time_s": 600.0,
                "precision": precision,
                "metrics": metrics,
            }
        )
    )


def test_headline_pools_seeds_and_links_each_record(tmp_path: Path) -> None:
    record(tmp_path, "paper", "cvc-clinicdb", 42, 0.80)
    record(tmp_path, "paper", "cvc-clinicdb", 43, 0.90)
    record(tmp_path, "cpu", "cvc-clinicdb", 42, 0.60, split="sequence")
    (tmp_path / "results" / "paper" / "notes.json").write_text("{}")  # not a run record: ignored
    (tmp_path / "results" / "pranet").mkdir()
    (tmp_path / "results" / "pranet" / "pranet_seed42.json").write_text(  # both datasets: not one of these runs
        json.dumps({"format": "polypnet-pranet/1", "protocol": "pranet", "metrics": {}})
    )
    runs = records.load_runs(tmp_path)
    assert [(r.protocol, r.seed) for r in runs] == [("paper", 42), ("paper", 43), ("cpu", 42)]
    lines = run_tables.headline(runs, Path("docs")).splitlines()
    paper, params = run_tables.paper_numbers()
    ours = next(line for line in lines if "`paper`" in line)
    assert (
        "| 2 ([42](../results/paper/cvc-clinicdb_seed42.json), [43](../results/paper/cvc-clinicdb_seed43.json)) |"
        in ours
    )
    assert "| 85.00 ± 7.07 | 75.00 ± 7.07 | 65.00 ± 7.07 | 571,731 |" in ours
    assert f"| {paper['cvc-clinicdb']['f1']:.2f} | - | {paper['cvc-clinicdb']['iou']:.2f} | {params:,} |" in lines[2]
    assert any("`cpu`" in line and "| sequence |" in line and "| 60.00 |" in line for line in lines)
    assert not any("`improved`" in line for line in lines)  # no record, no row


def test_a_row_whose_seeds_trained_at_different_precisions_is_marked(tmp_path: Path) -> None:
    record(tmp_path, "improved", "kvasir-seg", 42, 0.80, precision="bf16-mixed")
    record(tmp_path, "improved", "kvasir-seg", 43, 0.90)
    record(tmp_path, "paper", "kvasir-seg", 42, 0.80)
    record(tmp_path, "paper", "kvasir-seg", 43, 0.90)
    runs = records.load_runs(tmp_path)
    for text in (run_tables.headline(runs, Path("docs")), run_tables.summary(runs, Path("docs"))):
        improved = next(line for line in text.splitlines() if "`improved`" in line)
        paper = next(line for line in text.splitlines() if "`paper`" in line)
        assert "kvasir-seg_seed43.json))† |" in improved and "†" not in paper
        assert text.endswith(
            "\n\n† the row's seeds trained at different precisions (32-true, bf16-mixed); each record names its own.\n"
        )
    assert "†" not in run_tables.summary([r for r in runs if r.protocol == "paper"], Path("docs"))


def test_training_neighbours_counts_frames_to_the_nearest_training_frame_of_the_same_video() -> None:
    sequences = {"1": 1, "2": 1, "3": 1, "4": 1, "9": 1, "10": 2, "11": 2, "12": 3}
    split = {"train": ["1", "4", "10"], "test": ["2", "9", "11", "12"]}
    # 2 is 1 from 1; 9 is 5 from 4 (10 is closer in number but another video); 12's video has no training frame
    assert leakage_report.training_neighbours(split, sequences) == [1, 5, 1, None]
    n = leakage_report.Neighbours((Path("s.json"),), 4, (1, 5, 1, None), "random")
    assert n.within(1) == 2 and n.within(5) == 3 and n.widest is None


def test_the_cvc_random_split_leaks_every_test_frame() -> None:
    # The model card's limitation, computed from the committed split of the shipped CVC-ClinicDB runs.
    split = json.loads(RANDOM_SPLIT.read_text())
    gaps = leakage_report.training_neighbours(split, cvc_sequences())
    assert len(gaps) == 61 and None not in gaps
    assert max(gaps) == 2 and sum(g <= 1 for g in gaps) == 57
    found = {n.split_files[0].parent.name: n for n in leakage_report.cvc_neighbours(REPO)}
    assert found["cvc-clinicdb_seed42_run"].within(1) == 57
    assert all(n.within(10**6) == 0 for name, n in found.items() if "sequence" in name)  # whole videos held out


@pytest.mark.skipif(not SHARED_SEQUENCES.is_file(), reason=f"needs the dataset's own table: {SHARED_SEQUENCES} absent")
def test_runs_of_one_split_are_counted_per_protocol_and_the_split_linked_once() -> None:
    line = next(
        line for line in leakage_report.leakage(REPO, Path(".")).splitlines() if line.startswith("- random split")
    )
    random_cvc = [r.protocol for r in records.load_runs(REPO) if r.dataset == "cvc-clinicdb" and r.split == "random"]
    runs = {protocol: random_cvc.count(protocol) for protocol in ("improved", "cpu")}
    assert runs["improved"] > 1 and runs["cpu"] == 1, runs  # what the two assertions below are about
    assert f"`improved` ×{runs['improved']}" in line
    assert "`cpu`, " in line  # one run: the protocol alone, no count
    assert line.count("](") == 1 and "[split.json](results/cpu/cvc-clinicdb_seed42_run/split.json)" in line


def test_the_shipped_sequence_table_is_the_datasets() -> None:
    with SHARED_SEQUENCES.open(newline="") as f:
        assert {row["frame"]: int(row["sequence"]) for row in csv.DictReader(f)} == cvc_sequences()


def test_the_committed_docs_equal_what_the_records_give() -> None:
    # `make docs-check` inside the test suite: a record changed without `make docs` fails here.
    stale = [str(path) for path, text in report.render(REPO).items() if not path.is_file() or path.read_text() != text]
    assert not stale, f"out of date with results/: {stale}; run `make docs`"


def test_check_fails_on_a_stale_doc_and_writing_fixes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "results").symlink_to(REPO / "results")
    for doc in [*_generated_documents(), "docs/performance.md"]:
        (tmp_path / doc).parent.mkdir(exist_ok=True)
        shutil.copy(REPO / doc, tmp_path / doc)
    index = tmp_path / "index.json"
    shutil.copy(report.INDEX_PATH, index)
    for weights in report.INDEX_PATH.parent.glob("*.safetensors"):  # the index lists their sha256
        (tmp_path / weights.name).symlink_to(weights)
    readme = tmp_path / "README.md"
    readme.write_text(
        readme.read_text().replace(
            "<!-- /generated:headline -->", "| a hand-edited row |\n<!-- /generated:headline -->"
        )
    )
    args = ["--root", str(tmp_path), "--index", str(index)]
    assert report.main([*args, "--check"]) == 1
    assert "+++ README.md (from the records)" in capsys.readouterr().out
    assert "a hand-edited row" in readme.read_text()  # --check changes nothing
    assert report.main(args) == 0 and "a hand-edited row" not in readme.read_text()
    assert report.main([*args, "--check"]) == 0
    assert report.main(["--root", str(tmp_path / "nowhere")]) == 2


def test_performance_page_is_the_benchmark_record_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc, record = report.PERFORMANCE
    (tmp_path / "results").mkdir()
    for name in _generated_documents():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    records = [*(REPO / "results").glob("*/*_seed*.json"), *(REPO / "results/ablations/v2/cpu").glob("*.json")]
    others = [
        REPO / "results/baselines/cpu_cost.json",
        REPO / "results/benchmark/data_loading.json",
        REPO / "results/benchmark/train_avx2.json",
        REPO / "results/gpu/bundle.json",
        *(REPO / "results/data").glob("*_check.json"),
    ]
    for path in [*records, *others]:  # the records the other pages read
        (tmp_path / path.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, tmp_path / path.relative_to(REPO))
    monkeypatch.setattr(report, "performance_markdown", lambda r: f"# speed\n\n{r['command']}\n")
    assert tmp_path / doc not in report.render(tmp_path)  # no record: the page is left alone
    (tmp_path / record).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / record).write_text(json.dumps({"command": "polypnet benchmark --out results/benchmark/cpu.json"}))
    assert report.render(tmp_path)[tmp_path / doc] == "# speed\n\npolypnet benchmark --out results/benchmark/cpu.json\n"


def test_input_size_rows_report_the_size_chosen_on_validation(tmp_path: Path) -> None:
    from polypnet.experiments.study_tables import input_size_rows

    def m(f1: float) -> dict[str, float]:
        return {"dice_global_orig": f1, "dice_per_image_orig": f1 - 0.05, "iou_global_orig": f1 - 0.1}

    assert "No input-size study" in input_size_rows(tmp_path, Path("docs"))
    folder = tmp_path / "results" / "input_size"
    folder.mkdir(parents=True)
    row = {"weights": "kvasir-seg", "dataset": "kvasir-seg", "trained_at": 256, "chosen": 320}
    row |= {"val": {"256": m(0.85), "320": m(0.86)}, "test": {"256": m(0.84), "320": m(0.83)}}
    (folder / "input_size.json").write_text(json.dumps({"command": "c", "rows": [row]}))
    text = input_size_rows(tmp_path, Path("docs"))
    assert "| Kvasir-SEG | `kvasir-seg` | 256 px | 320 px | 85.00 | 86.00 | 84.00 | 83.00 | 78.00 |" in text
    assert "(../results/input_size/input_size.md)" in text


def _copy_studies(tmp_path: Path) -> Path:
    from polypnet.experiments.ablation_report import STUDIES_DIR

    shutil.copytree(REPO / STUDIES_DIR, tmp_path / STUDIES_DIR, ignore=shutil.ignore_patterns("runs", "*.png"))
    return tmp_path / STUDIES_DIR


def test_studies_table_has_the_shared_paper_arm_once_and_every_other_arm(tmp_path: Path) -> None:
    from polypnet.experiments.ablation_report import STUDIES, studies_table

    folder = _copy_studies(tmp_path)
    others = sum(
        not row["paper_choice"] for s in STUDIES for row in json.loads((folder / f"{s}.json").read_text())["rows"]
    )
    lines = studies_table(tmp_path, Path("docs")).splitlines()
    assert len(lines) == 2 + 1 + others and lines[2].startswith("| all four | **paper: ")
    # The per-image score is in the table beside the pooled one, as the record gives it.
    loss = json.loads((folder / "loss.json").read_text())
    tversky = next(row for row in loss["rows"] if row["arm"] == "tversky")
    row = next(line for line in lines if "Tversky" in line)
    assert row.endswith(f"| {100 * tversky['test_f1_per_image']:.2f} ± {100 * tversky['test_f1_per_image_std']:.2f} |")


def test_studies_table_refuses_paper_arms_that_are_not_one_run(tmp_path: Path) -> None:
    from polypnet.experiments.ablation_report import studies_table

    record = _copy_studies(tmp_path) / "loss.json"
    study = json.loads(record.read_text())
    next(row for row in study["rows"] if row["paper_choice"])["test_f1"] += 0.01
    record.write_text(json.dumps(study))
    with pytest.raises(ValueError, match="paper arms differ"):
        studies_table(tmp_path, Path("docs"))


def test_data_loading_table_is_the_bench_record(tmp_path: Path) -> None:
    from polypnet.experiments.data_loading_report import FORMAT, RECORD, data_loading_markdown

    record = {
        "format": FORMAT,
        "command": "python scripts/bench_data.py kvasir-seg --workers 0 2",
        "dataset": "kvasir-seg",
        "pairs": 1000,
        "image_size": 256,
        "batch_size": 16,
        "machine": "x86_64, 2 CPUs",
        "torch": "2.x",
        "torch_threads": 2,
        "rows": [
            {"workers": 0, "no_cache_img_s": 40.0, "cache_fill_s": 10.0, "cached_img_s": 640.0},
            {"workers": 2, "no_cache_img_s": 80.0, "cache_fill_s": 12.5, "cached_img_s": 400.0},
        ],
        "disk_cache_load_s": 0.8,
    }
    (tmp_path / RECORD).parent.mkdir(parents=True)
    (tmp_path / RECORD).write_text(json.dumps(record))
    text = data_loading_markdown(tmp_path, Path("docs"))
    assert "| no cache (decode + resize + augment every item) | 40.0 img/s | 80.0 img/s |" in text
    assert "| cache fill (once, at setup) | 100 img/s (10.0 s) | 80 img/s (12.5 s) |" in text
    assert "**640 img/s** (16.0x)" in text and "**400 img/s** (5.0x)" in text
    assert "0.8 s instead of 10.0 s" in text
    assert "takes 5.0 s of data loading from the cache instead of 80 s" in text  # 3200 samples
    (tmp_path / RECORD).write_text(json.dumps({**record, "format": "other/1"}))
    with pytest.raises(ValueError, match="expected"):
        data_loading_markdown(tmp_path, Path("docs"))


def test_data_check_transcripts_are_the_check_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from polypnet.cli.data import check_main
    from polypnet.experiments.data_check_report import RECORDS, data_check_markdown

    for path in RECORDS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        assert check_main(["sample", "--out", str(tmp_path / path)]) == 0
    printed = capsys.readouterr().out.split("problems:    none")[0]
    text = data_check_markdown(tmp_path, Path("docs"))
    assert text.startswith("```\n$ polypnet data check sample\nroot:        sample\n")
    assert printed.split("\n", 1)[1] in text  # the lines after the (absolute) root, as printed
    assert text.count("pairs:       16 (image files 16, mask files 16)") == 2
    record = json.loads((tmp_path / RECORDS[0]).read_text())
    (tmp_path / RECORDS[0]).write_text(json.dumps({**record, "format": "other/1"}))
    with pytest.raises(ValueError, match="expected"):
        data_check_markdown(tmp_path, Path("docs"))


def test_weights_trained_on_the_pranet_benchmark_show_its_scores_only(tmp_path: Path) -> None:
    from polypnet.models.pretrained import BENCHMARK_DATASET

    record = {"format": "polypnet-pranet/1", "sets": []}
    for name, n, mdice in (("Kvasir", 100, 0.88), ("CVC-ClinicDB", 62, 0.91)):
        record["sets"].append({"name": name, "metrics": {"mdice": mdice, "miou": mdice - 0.1, "images": float(n)}})
    (tmp_path / "results/pranet").mkdir(parents=True)
    (tmp_path / "results/pranet/pranet_seed42.json").write_text(json.dumps(record))
    entry = {
        "dataset": BENCHMARK_DATASET,
        "protocol": "pranet",
        "image_size": 256,
        "epochs": 40,
        "result_file": "results/pranet/pranet_seed42.json",
        "benchmark": {"Kvasir": {"mdice": 0.1, "miou": 0.1}},  # stale: synced from the record
        "test_images": 1,
    }
    index = {"iam_unet": {"polyp-pranet": {**entry, "file": "w.safetensors"}}}
    (tmp_path / "w.safetensors").write_bytes(b"weights")
    synced = weights_tables.synced_index(tmp_path, index, tmp_path)["iam_unet"]["polyp-pranet"]
    assert synced["sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert synced["test_images"] == 162 and synced["benchmark"]["Kvasir"] == {"mdice": 0.88, "miou": 0.88 - 0.1}
    assert "test_dice_global" not in synced
    rows = weights_tables.shipped(tmp_path, Path("docs"), index).splitlines()[2:]
    assert rows == [
        "| `iam_unet` | `polyp-pranet` | CVC-ClinicDB + Kvasir-SEG | `pranet` | 256 | 40 | - "
        "| PraNet's benchmark: Kvasir 88.00, CVC-ClinicDB 91.00 | - | [json](../results/pranet/pranet_seed42.json) |"
    ]
    brief = weights_tables.shipped_brief(tmp_path, Path("."), index)
    assert "| CVC-ClinicDB + Kvasir-SEG | improved | 256 px, 40 epochs | - |" in brief


def test_layer_table_is_the_summary_of_the_registered_model() -> None:
    from polypnet.experiments.model_summary_report import model_summary_markdown

    text = model_summary_markdown()
    assert text.startswith("```\n$ polypnet models summary iam_unet\niam_unet @ 256x256\n")
    assert "total parameters (PyTorch / Keras trainable): 571,731" in text and text.endswith("```\n")


def test_baselines_cost_table_is_one_benchmark_run(tmp_path: Path) -> None:
    from polypnet.experiments.ablation_report import COST_RECORD, cost_table

    def row(model: str, eager: float, fast: float, speedup: float) -> dict:
        latency = {"eager_nchw": {"median_ms": eager}, "openvino/bf16": {"median_ms": fast}}
        return {
            "model": model,
            "params": 1000,
            "gflops_per_image": 2.0,
            "latency_b1": latency,
            "best_mode": "openvino/bf16",
            "throughput_b16": {"eager_nchw": 1.0, "openvino/bf16": 50.0},
            "speedup_best_b1_vs_peer_best": speedup,
            "peak_rss_mib": 900.0,
        }

    one_by_one = row("unet", 400.0, 100.0, 0.05) | {"throughput_b16_one_by_one": ["openvino/bf16"]}
    record = {
        "command": "polypnet benchmark --models iam_unet unet --peer iam_unet",
        "size": 256,
        "peer": "iam_unet",
        "machine": {
            "cpu": "Some CPU",
            "logical_cpus": 2,
            "threads": 2,
            "versions": {"torch": "2.x", "openvino": "2026.x", "onnxruntime": "1.x", "nncf": None},
        },
        "rows": [row("iam_unet", 50.0, 5.0, 1.0), row("unet", 400.0, 100.0, 0.05), one_by_one],
    }
    (tmp_path / COST_RECORD).parent.mkdir(parents=True)
    (tmp_path / COST_RECORD).write_text(json.dumps(record))
    text = cost_table(tmp_path, Path("docs"))
    assert "| 50.0 | 5.0 (openvino/bf16) | 50.0 | - | 900 |" in text  # the peer has no ratio to itself
    assert "| 400.0 | 100.0 (openvino/bf16) | 50.0 | 20.0x | 900 |" in text
    assert "| 400.0 | 100.0 (openvino/bf16) | 50.0 (as batch-1 calls) | 20.0x | 900 |" in text
    assert "torch 2.x, openvino 2026.x;" in text and "onnxruntime" not in text  # only the backends measured


def test_every_run_names_how_each_record_was_scored(tmp_path: Path) -> None:
    record(tmp_path, "paper", "cvc-clinicdb", 42, 0.80)  # no eval_metrics.json: an older torch evaluation
    record(tmp_path, "paper", "cvc-clinicdb", 43, 0.82)
    on_gpu = tmp_path / "results" / "paper" / "cvc-clinicdb_seed43.json"
    on_gpu.write_text(json.dumps({**json.loads(on_gpu.read_text()), "accelerator": "NVIDIA H200"}))
    files = tmp_path / "results" / "paper" / "cvc-clinicdb_seed43_run"
    files.mkdir()
    (files / "eval_metrics.json").write_text(json.dumps({"backend": "openvino", "precision": "bf16"}))
    (files / "config.yaml").write_text("model:\n  model: iam_unet\n  channels_last: true\n")
    runs = records.load_runs(tmp_path)
    assert [r.scored_with for r in runs] == ["torch fp32", "openvino bf16"]
    assert [r.layout for r in runs] == ["-", "channels_last"]  # seed 42 kept no config
    text = run_tables.every_run(runs, tmp_path)
    assert "| device | precision | layout | scored with |" in text
    assert "| 40 | NVIDIA H200 | 32-true | channels_last | openvino bf16 | 82.00 |" in text
    assert "| 40 | - | 32-true | - | torch fp32 | 80.00 |" in text  # names no device, kept no config


def test_a_run_config_names_its_memory_layout(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("model:\n  channels_last: false\n")
    assert records.memory_layout(config) == "NCHW"
    config.write_text("trainer:\n  max_epochs: 1\n")  # the default layout
    assert records.memory_layout(config) == "NCHW"
    assert records.memory_layout(tmp_path / "missing.yaml") == "-"
