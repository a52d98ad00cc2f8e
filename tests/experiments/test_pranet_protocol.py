"""The PraNet protocol: end to end on the real data, tiny (2 test and 4 training images per
dataset, one epoch at 64 px, scored at original size, tabled; skips without ../shared), and its
handling of resized copies with a stand-in trainer."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from polypnet.data.readers import read_mask
from polypnet.data.shipped import CVC, KVASIR, cvc_sequences, kvasir_ids, pranet_test
from polypnet.experiments import pranet_protocol
from polypnet.experiments.polyp_benchmark import pranet_test_pairs, score_pairs
from polypnet.inference.predictor import Prediction
from polypnet.models import count_parameters, create_model

NEEDS_SCORER = "pysodmetrics (the evaluation extra) is not installed"

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "pranet.yaml"


def tiny_copy(shared: Path, dest: Path) -> Path:
    """Links to 2 of PraNet's test and 4 other pairs of each dataset, in the datasets' layouts."""
    chosen = {
        KVASIR: list(pranet_test(KVASIR)[:2]) + sorted(kvasir_ids() - set(pranet_test(KVASIR)))[:4],
        CVC: list(pranet_test(CVC)[:2]) + [i for i in cvc_sequences() if i not in set(pranet_test(CVC))][:4],
    }
    for dataset, stems in chosen.items():
        suffix = ".jpg" if dataset == KVASIR else ".png"
        for folder in ("images", "masks"):
            (dest / dataset / folder).mkdir(parents=True)
            for stem in stems:
                (dest / dataset / folder / f"{stem}{suffix}").symlink_to(shared / dataset / folder / f"{stem}{suffix}")
    return dest


class MaskAsProbability:
    """A stand-in predictor that answers each image with its own mask: a perfect map."""

    def __init__(self, pairs) -> None:
        self.masks = [read_mask(p.mask) for p in pairs]

    def predict_batch(self, images):
        out = []
        for image in images:
            mask = next(m for m in self.masks if m.shape == image.shape[:2])
            out.append(Prediction(mask, mask.astype(np.float32)))
        return out


def test_scoring_is_at_the_original_size(shared_data: Path) -> None:
    pytest.importorskip("py_sod_metrics", reason=NEEDS_SCORER)
    pairs = pranet_test_pairs(shared_data / KVASIR, KVASIR, limit=2)
    assert [p.id for p in pairs] == list(pranet_test(KVASIR)[:2])
    got = score_pairs(MaskAsProbability(pairs), pairs)
    assert got["images"] == 2 and got["mae"] == 0.0 and got["s_alpha"] == pytest.approx(1.0)


@pytest.mark.slow  # a training run: about 40 s of CPU
def test_pranet_protocol_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("py_sod_metrics", reason=NEEDS_SCORER)
    from polypnet.cli import reproduce as rp

    data = tiny_copy(shared_data, tmp_path / "data")
    args = rp.build_parser().parse_args(
        [
            "--data-dir",
            str(data),
            "--runs",
            str(tmp_path / "runs"),
            "--seeds",
            "42",
            "--accelerator",
            "cpu",
            "--num-workers",
            "0",
            "--extra",
            "--trainer.max_epochs",
            "1",
            "--data.image_size",
            "64",
            "--data.batch_size",
            "2",
            "--data.repeats",
            "1",
            "--data.val_fraction",
            "0.25",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    args.protocol = "pranet"
    out = tmp_path / "results" / "pranet"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's small-data warnings, the partial test sets
        code = pranet_protocol.run(
            args,
            out,
            "test",
            train=rp.train,
            best_checkpoints=rp.best_checkpoints,
            git_commit=rp.git_commit(),
            device_name=rp.device_name,
            read_wall_clock=rp.read_wall_clock,
            config=CONFIG,
            keep_run_files=rp.keep_run_files,
        )
    assert code == 0
    record = json.loads((out / "pranet_seed42.json").read_text())
    assert record["split"] == "pranet" and record["recipe"] == "improved" and record["image_size"] == 64
    assert record["params"] == count_parameters(create_model("iam_unet"))
    assert set(record["gflops"]) == {"64", "352"} and record["gflops"]["352"] > record["gflops"]["64"] > 0
    assert [(s["name"], s["metrics"]["images"]) for s in record["sets"]] == [("Kvasir", 2.0), ("CVC-ClinicDB", 2.0)]
    for s in record["sets"]:
        assert all(0.0 <= v <= 1.1 for k, v in s["metrics"].items() if k != "images")
    split = json.loads((tmp_path / "runs" / "pranet" / "pranet_seed42" / "split.json").read_text())
    assert split["counts"] == {"train": 6, "val": 2, "test": 4}
    kept = {p.name for p in (out / "pranet_seed42_run").iterdir()}
    assert {"config.yaml", "split.json", "metrics.csv", "wall_clock.json"} <= kept and not any(
        ".ckpt" in k for k in kept
    )
    table = (out / "README.md").read_text()
    assert "| IAM-UNet (`pranet`), improved recipe, seed 42 | " in table and "PraNet (*quoted*)" in table


def fake_args(data_dir: Path, tmp_path: Path, from_run: Path | None = None, seeds: tuple[int, ...] = (42,)):
    import argparse

    return argparse.Namespace(
        protocol="pranet",
        data_dir=data_dir,
        runs=tmp_path / "runs",
        seeds=list(seeds),
        split_seed=None,
        from_run=from_run,
        accelerator="cpu",
    )


def test_resized_copies_train_but_are_not_scored(tmp_path: Path) -> None:
    data = tmp_path / "packs"
    for dataset in (KVASIR, CVC):
        (data / dataset).mkdir(parents=True)
        (data / dataset / "pack.json").write_text("{}")
    calls = []

    def train(config, roots, seed, run_dir, args):
        calls.append((json.loads(roots), seed, run_dir))
        return 1.0

    def unused(*_):
        raise AssertionError("a resized copy is never scored")

    out = tmp_path / "results"
    kwargs = dict(
        train=train,
        best_checkpoints=unused,
        git_commit="unused",
        device_name=lambda a: a,
        read_wall_clock=unused,
        config=CONFIG,
    )
    assert pranet_protocol.run(fake_args(data, tmp_path), out, "cmd", **kwargs) == 0
    assert calls == [([str(data / KVASIR), str(data / CVC)], 42, tmp_path / "runs" / "pranet" / "pranet_seed42")]
    assert not out.exists()
    assert pranet_protocol.run(fake_args(data, tmp_path, from_run=tmp_path), out, "cmd", **kwargs) == 2
    assert pranet_protocol.run(fake_args(tmp_path / "nowhere", tmp_path), out, "cmd", **kwargs) == 2
    assert len(calls) == 1


def test_a_config_on_one_dataset_needs_and_trains_that_one_alone(tmp_path: Path) -> None:
    data = tmp_path / "packs"
    (data / KVASIR).mkdir(parents=True)  # no cvc-clinicdb/ beside it
    (data / KVASIR / "pack.json").write_text("{}")
    calls = []

    def train(config, roots, seed, run_dir, args):
        calls.append(json.loads(roots))
        return 1.0

    config = CONFIG.with_name("pranet128_kvasir.yaml")
    assert pranet_protocol.train_datasets(config) == (KVASIR,)
    kwargs = dict(
        train=train, best_checkpoints=None, git_commit="unknown", device_name=str, read_wall_clock=None, config=config
    )
    assert pranet_protocol.run(fake_args(data, tmp_path), tmp_path / "results", "cmd", **kwargs) == 0
    assert calls == [[str(data / KVASIR)]]
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  root: [kvasir-seg, my-folder]\n")
    with pytest.raises(ValueError, match="data.root must name kvasir-seg and/or cvc-clinicdb"):
        pranet_protocol.train_datasets(bad)


def test_a_run_on_one_dataset_is_named_so_in_the_table(tmp_path: Path) -> None:
    from polypnet.experiments.pranet_table import pranet_markdown

    sets = [{"name": "Kvasir", "metrics": {"mdice": 0.7, "images": 100}}]
    record = {"format": "polypnet-pranet/1", "protocol": "pranet128_kvasir", "recipe": "improved", "seed": 42}
    record |= {"params": 571_731, "image_size": 128, "sets": sets, "train_datasets": [KVASIR]}
    (tmp_path / "pranet_seed42.json").write_text(json.dumps(record))
    text = pranet_markdown(tmp_path)
    assert "| IAM-UNet (`pranet128_kvasir`), improved recipe, trained on Kvasir-SEG alone, seed 42 | 0.7000 |" in text
