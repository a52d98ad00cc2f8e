"""polypnet benchmark: a quick run measures every model and writes ratios against the peer; the goal
verdict and the generated docs/performance.md read the record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from polypnet.cli.benchmark import main, scored_weights
from polypnet.experiments import benchmark as bench
from polypnet.experiments.performance_page import performance_markdown, training_markdown
from polypnet.experiments.speed_goal import goal
from polypnet.inference.backends import cpu_has_bf16
from polypnet.models import create_model
from polypnet.models.pretrained import weights_stamp
from polypnet.training import host_memory


def test_flops_count_a_known_convolution() -> None:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    # 2 FLOPs per multiply-add: 2 * out(8 * 16 * 16) * in(3 * 3 * 3)
    with torch.no_grad():
        assert bench.flops_per_image(torch.nn.Sequential(conv), size=16) == 2 * 8 * 16 * 16 * 27


def test_iam_unet_flops_at_256() -> None:
    gflops = bench.flops_per_image(create_model("iam_unet"), 256) / 1e9
    assert 0.9 < gflops < 1.4  # ~1.1 GFLOP per 256x256 forward for the paper preset


def test_quick_benchmark_in_one_run(tmp_path: Path) -> None:
    pytest.importorskip("segmentation_models_pytorch")
    out = tmp_path / "bench.json"
    assert main(["--quick", "--runs", "2", "--models", "iam_unet", "smp_unet_mobilenet_v2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["peer"] == "smp_unet_mobilenet_v2" and result["machine"]["matmul_gflops"] > 0
    rows = {r["model"]: r for r in result["rows"]}
    assert rows["iam_unet"]["params"] == 571_731
    expected = {"eager_nchw", "torch/fp32"} | ({"torch/bf16"} if cpu_has_bf16() else set())
    assert set(rows["iam_unet"]["latency_b1"]) == expected  # --quick: torch only
    assert rows["smp_unet_mobilenet_v2"]["speedup_b1_vs_peer"]["eager_nchw"] == pytest.approx(1.0)
    assert rows["iam_unet"]["params_vs_peer"] < 0.2
    assert result["weights_sha256"] == {}  # --quick: random weights


def test_a_benchmark_record_names_the_shipped_weights_it_scored() -> None:
    accuracy = {"accuracy": {"kvasir-seg": {"f1": {}}, "cvc-clinicdb-improved": {"skipped": "no data"}}}
    assert scored_weights(accuracy) == weights_stamp("iam_unet", ["kvasir-seg"])
    assert scored_weights({}) == {}  # speeds only: they do not depend on the weights' values


def test_train_only_measures_each_training_format_and_the_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["--quick", "--train-only", "--train-steps", "1", "--models", "iam_unet", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    row = record["rows"][0]
    assert "latency_b1" not in row  # no inference figures
    speed = row["train_images_per_s"]
    assert set(speed) == {
        f"{s}_{fmt}" for s in (64, 32) for fmt in ("nchw", "channels_last", "bf16_nchw", "bf16_channels_last")
    }
    assert all(v > 0 for v in speed.values())
    assert row["train_bf16_vs_fp32"]["64"] == pytest.approx(speed["64_bf16_channels_last"] / speed["64_channels_last"])
    layout = row["train_channels_last_vs_nchw"]["32"]
    assert layout == pytest.approx(
        {
            "fp32": speed["32_channels_last"] / speed["32_nchw"],
            "bf16": speed["32_bf16_channels_last"] / speed["32_bf16_nchw"],
        }
    )
    assert f"32 px bf16 {layout['bf16']:.2f}x" in performance_markdown(record)
    brief = training_markdown(record, "../results/bench.json")  # docs/results.md's training_cpu region
    assert brief.startswith("Machine: ") and f"32 px bf16 {layout['bf16']:.2f}x" in brief
    assert "Record [bench.json](../results/bench.json), written by `polypnet benchmark --quick" in brief
    if host_memory.applies():
        kept = row["train_host_memory"]  # glibc's default allocator first, then polypnet fit's setting
        assert kept["default_images_per_s"] > 0 and kept["size"] == 64
        assert kept["kept_over_default"] == pytest.approx(speed["64_channels_last"] / kept["default_images_per_s"])
        assert f"glibc's default (64 px fp32 channels_last): {kept['kept_over_default']:.2f}x" in performance_markdown(
            record
        )
    assert main(["--train-only", "--no-train"]) == 2


def test_bf16_training_step_updates_the_weights() -> None:
    model = create_model("iam_unet")
    before = [p.detach().clone() for p in model.parameters()]
    bench.training_step(model, batch=2, size=32, channels_last=True, bf16=True)()
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast keeps fp32 master weights
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_profile_names_the_operators_of_the_best_torch_mode() -> None:
    from polypnet.experiments.benchmark_runs import measure_model

    row = measure_model(
        "iam_unet",
        {
            "size": 32,
            "runs": 2,
            "threads": 1,
            "backends": ["torch"],
            "no_int8": True,
            "train": False,
            "profile": True,
            "pretrained": False,
        },
    )
    profile = row["profile_b1"]
    assert profile["mode"] == row["best_mode"] and profile["mode"].startswith("torch/")
    ops = profile["ops"]
    assert ops and any("conv" in op["op"] for op in ops)
    assert [op["percent"] for op in ops] == sorted((op["percent"] for op in ops), reverse=True)
    assert 0 < sum(op["percent"] for op in ops) <= 100.0 + 1e-6


def test_training_profile_prints_the_step_and_its_operators(capsys) -> None:
    assert main(["--profile-train", "--models", "iam_unet", "--size", "32", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "training step, batch 16, 32x32, channels_last" in out and "convolution_backward" in out


def _record(iam_ms: dict[str, float], peer_ms: dict[str, float], deltas: dict[str, float] | None) -> dict:
    def row(name: str, ms: dict[str, float]) -> dict:
        return {
            "model": name,
            "latency_b1": {m: {"median_ms": v} for m, v in ms.items()},
            "best_mode": min(ms, key=ms.get),
        }

    record = {"peer": "peer", "size": 256, "rows": [row("iam_unet", iam_ms), row("peer", peer_ms)]}
    if deltas is not None:
        record["accuracy"] = {
            "a": {"f1": dict.fromkeys(deltas, 0.9), "delta_points_vs_torch_fp32": deltas},
            "b": {"f1": dict.fromkeys(deltas, 0.9), "delta_points_vs_torch_fp32": {**deltas, "openvino/bf16": 0.1}},
        }
    return record


def test_goal_takes_the_fastest_mode_that_keeps_accuracy_and_the_peers_best_of_the_same_modes() -> None:
    iam = {"eager_nchw": 50.0, "torch/fp32": 30.0, "openvino/bf16": 12.0, "openvino/int8": 8.0}
    peer = {"eager_nchw": 90.0, "torch/fp32": 40.0, "openvino/bf16": 20.0, "openvino/int8": 10.0}
    g = goal(_record(iam, peer, {"torch/fp32": 0.0, "openvino/bf16": -0.2, "openvino/int8": -0.9}))
    assert g["modes_keeping_accuracy"] == ["torch/fp32", "openvino/bf16"]  # int8 lost 0.9 points
    assert g["best_mode"] == "openvino/bf16" and g["frames_per_s"] == pytest.approx(1000 / 12)
    assert not g["frames_per_s_met"] and g["frames_per_s_factor_short"] == pytest.approx(1.2)
    # the peer's fastest among the same modes (its int8 does not count either)
    assert g["peer_best_mode"] == "openvino/bf16" and g["speedup_vs_peer"] == pytest.approx(20 / 12)
    assert not g["speedup_met"]
    record = _record(
        {**iam, "openvino/bf16": 9.0}, peer, {"torch/fp32": 0.0, "openvino/bf16": 0.3, "openvino/int8": 0.0}
    )
    g = goal(record)
    assert g["best_mode"] == "openvino/int8" and g["frames_per_s_met"]
    assert g["speedup_vs_peer"] == pytest.approx(10 / 8) and g["speedup_from"] == "separate processes"
    # the head-to-head timing of the same two modes, when there, decides the ratio
    record["head_to_head"] = {
        "modes": ["openvino/int8", "openvino/int8"],
        "speedup": 2.5,
        "latency_b1": {"iam_unet openvino/int8": {"median_ms": 12.5}},
    }
    g = goal(record)
    assert g["speedup_vs_peer"] == 2.5 and g["speedup_from"] == "head_to_head" and g["speedup_met"]
    assert g["head_to_head_frames_per_s"] == pytest.approx(80) and not g["head_to_head_frames_per_s_met"]


def test_performance_markdown_reads_every_number_from_the_record() -> None:
    record = _record(
        {"torch/fp32": 30.0, "openvino/bf16": 12.5},
        {"torch/fp32": 40.0, "openvino/bf16": 31.25},
        {"torch/fp32": 0.0, "openvino/bf16": -0.04},
    )
    for r in record["rows"]:
        r.update(params=1000, gflops_per_image=1.0, achieved_gflops_b1=80.0, achieved_gbps_b1_lower_bound=3.0)
    for tag in record["accuracy"].values():
        tag.update(test_images=61, split="random (seed 42)", calibration=None)
    record.update(command="polypnet benchmark --out x.json", machine={"cpu": "TestCPU", "threads": 2})
    record["rows"][0]["speedup_b1_vs_peer"] = {"torch/fp32": 40 / 30, "openvino/bf16": 2.5}
    record["goal"] = goal(record)
    text = performance_markdown(record)
    assert "polypnet benchmark --out x.json" in text and "TestCPU" in text
    assert "| openvino/bf16 | 12.5 (2.50x) | 31.2 |" in text
    assert (
        "| batch-1 frames/s at 256 px, fastest mode keeping test F1 within 0.3 points (openvino/bf16) | ≥ 100 | 80.0 (12.5 ms) | not met, 1.25x short |"
        in text
    )
    assert "ms in its own process) | ≥ 2x | 2.50x | met |" in text
    assert "| openvino/bf16 | 90.00 (-0.04) | 90.00 (+0.10) |" in text


def test_render_writes_the_markdown_of_a_record_without_measuring(tmp_path: Path, capsys) -> None:
    record = _record({"torch/fp32": 30.0}, {"torch/fp32": 40.0}, None)
    record.update(command="polypnet benchmark", machine={})
    for r in record["rows"]:
        r.update(params=1, gflops_per_image=1.0, achieved_gflops_b1=1.0, achieved_gbps_b1_lower_bound=1.0)
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps(record))
    assert main(["--render", str(path), "--markdown", str(tmp_path / "docs" / "performance.md")]) == 0
    assert (tmp_path / "docs" / "performance.md").read_text() == performance_markdown(record)
    assert capsys.readouterr().out == ""


def test_shipped_weights_are_benchmarked_on_the_split_their_run_kept(shared_data: Path) -> None:
    from polypnet.experiments.benchmark_inputs import shipped_data
    from polypnet.models.pretrained import pretrained_info

    repo = Path(__file__).resolve().parents[2]
    for tag in ("cvc-clinicdb", "kvasir-seg"):
        root, drawn = shipped_data({"data_dir": str(shared_data)}, tag)
        record = repo / pretrained_info("iam_unet", tag)["result_file"]
        kept = json.loads((record.with_name(record.stem + "_run") / "split.json").read_text())
        assert root == shared_data / tag and all(drawn[side] == kept[side] for side in ("train", "val", "test"))
    assert shipped_data({"data_dir": str(repo / "nowhere")}, "kvasir-seg") is None


def test_without_nncf_the_benchmark_leaves_int8_out(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from polypnet.experiments import benchmark_inputs as inputs

    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else found(name, *a))
    args = {"calibration_images": 300, "data_dir": str(shared_data), "size": 64}
    assert inputs.calibration_source(args, "cvc-clinicdb") == (None, None)  # int8 is skipped, not a traceback
    assert "polypnet[int8]" in inputs.int8_notice(["torch", "openvino"], no_int8=False)  # and says why
    assert inputs.int8_notice(["torch"], no_int8=False) is None
    assert inputs.int8_notice(["openvino"], no_int8=True) is None


def test_calibration_reads_the_split_the_caller_drew(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from polypnet.experiments import benchmark_inputs as inputs

    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "nncf" else found(name, *a))
    root, drawn = inputs.shipped_data({"data_dir": str(shared_data)}, "cvc-clinicdb")

    def not_again(*_: object) -> None:
        raise AssertionError("the split was drawn again")

    monkeypatch.setattr(inputs, "shipped_data", not_again)
    args = {"calibration_images": 2, "data_dir": str(shared_data), "size": 64}
    images, tag = inputs.calibration_source(args, "cvc-clinicdb", (root, drawn))
    assert tag == "cvc-clinicdb:train:first2:size64"
    assert [a.shape for a in images()] == [(1, 3, 64, 64)] * 2
