"""polypnet benchmark: a quick run measures every model and writes ratios against the peer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from polypnet import benchmark as bench
from polypnet.cli.benchmark import main
from polypnet.models import create_model


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
    assert result["peer"] == "smp_unet_mobilenet_v2" and result["matmul_gflops"] > 0
    rows = {r["model"]: r for r in result["rows"]}
    assert rows["iam_unet"]["params"] == 571_731
    assert set(rows["iam_unet"]["latency_b1"]) == {"eager_nchw", "channels_last", "bn_folded_channels_last"}
    assert rows["smp_unet_mobilenet_v2"]["speedup_b1_vs_peer"]["eager_nchw"] == pytest.approx(1.0)
    assert rows["iam_unet"]["params_vs_peer"] < 0.2


def test_train_only_measures_each_training_format_and_the_bf16_ratio(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["--quick", "--train-only", "--train-steps", "1", "--models", "iam_unet", "--out", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert "latency_b1" not in row  # no inference figures
    assert set(row["train_images_per_s"]) == {f"{s}_{fmt}" for s in (64, 32)
                                              for fmt in ("nchw", "channels_last", "bf16_channels_last")}
    assert all(v > 0 for v in row["train_images_per_s"].values())
    ratio = row["train_bf16_vs_fp32"]["64"]
    assert ratio == pytest.approx(row["train_images_per_s"]["64_bf16_channels_last"] / row["train_images_per_s"]["64_channels_last"])
    assert main(["--train-only", "--no-train"]) == 2


def test_bf16_training_step_updates_the_weights() -> None:
    model = create_model("iam_unet")
    before = [p.detach().clone() for p in model.parameters()]
    bench.training_step(model, batch=2, size=32, channels_last=True, bf16=True)()
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast keeps fp32 master weights
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_profile_names_the_operators_of_the_best_torch_mode() -> None:
    from polypnet.cli.benchmark import measure_model

    row = measure_model("iam_unet", {"size": 32, "runs": 2, "threads": 1, "onnx": False, "train": False, "profile": True})
    profile = row["profile_b1"]
    assert profile["mode"] == row["best_mode"]  # without ONNX Runtime the best mode is a torch one
    ops = profile["ops"]
    assert ops and any("conv" in op["op"] for op in ops)
    assert [op["percent"] for op in ops] == sorted((op["percent"] for op in ops), reverse=True)
    assert 0 < sum(op["percent"] for op in ops) <= 100.0 + 1e-6


def test_training_profile_prints_the_step_and_its_operators(capsys) -> None:
    assert main(["--profile-train", "--models", "iam_unet", "--size", "32", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "training step, batch 16, 32x32, channels_last" in out and "convolution_backward" in out
