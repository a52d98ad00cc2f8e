"""polypnet reproduce end to end on the bundled sample standing in for Kvasir-SEG (1 short epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from polypnet.cli.reproduce import main
from polypnet.data import sample_root


@pytest.fixture
def two_threads():
    """torch on 2 threads for the test, whatever an earlier test left: what a record must name."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_reproduce_trains_evaluates_tabulates_and_ships(tmp_path: Path, monkeypatch, two_threads) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "kvasir-seg").symlink_to(sample_root(), target_is_directory=True)
    out, runs = tmp_path / "results", tmp_path / "runs"
    code = main(
        [
            "--protocol",
            "paper",
            "--datasets",
            "kvasir-seg",
            "--data-dir",
            str(data_dir),
            "--accelerator",
            "cpu",
            "--out",
            str(out),
            "--runs",
            str(runs),
            "--extra",
            "--trainer.max_epochs",
            "1",
            "--data.image_size",
            "32",
            "--data.num_workers",
            "0",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    assert code == 0
    result = json.loads((out / "paper" / "kvasir-seg_seed42.json").read_text())
    assert result["protocol"] == "paper" and result["split"] == "random" and result["seed"] == 42
    assert result["split_seed"] == 42
    assert result["run_dir"] == str(runs / "paper" / "kvasir-seg_random_seed42")
    assert result["params"] == 571_731 and result["epochs"] == 1 and result["image_size"] == 32
    assert result["test_images"] == 2 and result["precision"] == "32-true"
    # the training's threads, not those the evaluation's CPU runtime leaves torch
    assert result["accelerator"].startswith("CPU (") and result["accelerator"].endswith(", 2 threads)")
    assert {"dice_global", "iou_global", "dice_per_image", "dice_global_orig"} <= set(result["metrics"])
    assert result["paper"] == {"f1": 86.59, "iou": 78.87, "params": 574_579}
    assert result["command"].startswith("polypnet reproduce --protocol paper --datasets kvasir-seg ")
    assert result["command"].endswith("--trainer.enable_progress_bar false")
    table = (out / "paper" / "README.md").read_text()
    assert "| kvasir-seg | random (42) | 42 | 32 | 1 | 32-true | 571,731 |" in table
    kept = out / "paper" / "kvasir-seg_seed42_run"  # the evidence outlives runs/: no checkpoints, all the rest
    assert {p.name for p in kept.iterdir()} == {
        "config.yaml",
        "split.json",
        "metrics.csv",
        "curves.png",
        "test_metrics.json",
        "eval_metrics.json",
        "per_image.csv",
        "overlays.jpg",
        "wall_clock.json",
    }
    evaluated = json.loads((kept / "eval_metrics.json").read_text())
    assert evaluated["metrics"] == result["metrics"]
    assert (evaluated["backend"], evaluated["precision"]) == ("torch", "fp32")  # the network as trained
    assert result["wall_time_s"] == json.loads((kept / "wall_clock.json").read_text())["seconds"] > 0

    # Ship the run's weights into a temporary weights folder and load them by name, offline.
    from polypnet.cli import ship_weights
    from polypnet.inference import load_checkpoint
    from polypnet.models import create_model, pretrained

    weights_dir = tmp_path / "weights"
    monkeypatch.setattr(ship_weights, "WEIGHTS_DIR", weights_dir)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", weights_dir)
    pretrained._index.cache_clear()
    try:
        assert ship_weights.main([str(out / "paper" / "kvasir-seg_seed42.json")]) == 0
        info = pretrained.pretrained_info("iam_unet", "kvasir-seg")
        assert info["protocol"] == "paper" and info["test_dice_global"] == result["metrics"]["dice_global"]
        assert info["precision"] == "32-true" and info["command"] == result["command"]
        shipped = create_model("iam_unet", pretrained="kvasir-seg").eval()
        trained, _ = load_checkpoint(result["checkpoint"])
        x = torch.rand(1, 3, 32, 32)
        with torch.no_grad():
            assert torch.equal(shipped(x), trained(x))
    finally:
        pretrained._index.cache_clear()


def test_num_workers_and_precision_reach_fit(tmp_path: Path, monkeypatch) -> None:
    from polypnet.cli import reproduce

    seen: list[list[str]] = []
    monkeypatch.setattr(reproduce.fit_cli, "main", lambda argv: seen.append(argv) or 0)
    args = reproduce.build_parser().parse_args(["--num-workers", "8", "--precision", "bf16-mixed"])
    reproduce.train(tmp_path / "c.yaml", tmp_path / "data", 42, tmp_path / "run", args)
    argv = seen[0]
    assert argv[argv.index("--data.num_workers") + 1] == "8"
    assert argv[argv.index("--trainer.precision") + 1] == "bf16-mixed"
    reproduce.train(
        tmp_path / "c.yaml", tmp_path / "data", 42, tmp_path / "run", reproduce.build_parser().parse_args([])
    )
    assert "--data.num_workers" not in seen[1] and "--trainer.precision" not in seen[1]


def test_split_seed_reaches_fit_and_names_the_result(tmp_path: Path, monkeypatch) -> None:
    from polypnet.cli import reproduce

    seen: list[list[str]] = []
    monkeypatch.setattr(reproduce.fit_cli, "main", lambda argv: seen.append(argv) or 0)
    reproduce.train(
        tmp_path / "c.yaml",
        tmp_path / "data",
        43,
        tmp_path / "run",
        reproduce.build_parser().parse_args(["--split", "sequence", "--split-seed", "43"]),
    )
    assert seen[0][seen[0].index("--data.seed") + 1] == "43"
    reproduce.train(
        tmp_path / "c.yaml", tmp_path / "data", 43, tmp_path / "run", reproduce.build_parser().parse_args([])
    )
    assert "--data.seed" not in seen[1]
    assert reproduce.result_suffix("random", 42, 42) == ""
    assert reproduce.result_suffix("sequence", 42, 42) == "_sequence"
    assert reproduce.result_suffix("sequence", 43, 43) == "_sequence"
    assert reproduce.result_suffix("random", 42, 43) == "_split42"


def _fake_record(
    out: Path, dataset: str, split: str, split_seed: int, seed: int, dice: float, precision: str | None = None
) -> None:
    metrics = {
        "dice_global": dice,
        "iou_global": dice / 2,
        "dice_per_image": dice - 0.1,
        "iou_per_image": 0.3,
        "dice_global_orig": dice,
        "iou_global_orig": dice / 2,
    }
    record = {
        "dataset": dataset,
        "protocol": "cpu",
        "seed": seed,
        "split": split,
        "split_seed": split_seed,
        "image_size": 128,
        "epochs": 20,
        "params": 571_731,
        "model": "iam_unet",
        "metrics": metrics,
        "paper": {"f1": 92.36, "iou": 86.50},
        "accelerator": "CPU",
        "wall_time_s": 60.0,
        "git_commit": "0" * 40,
    }
    if precision is not None:  # records written before the precision was kept have none
        record["precision"] = precision
    (out / f"{dataset}_{split}_{split_seed}_{seed}_{precision}.json").write_text(json.dumps(record))


def test_table_averages_runs_of_one_setting_only(tmp_path: Path) -> None:
    from polypnet.cli.reproduce import write_table

    _fake_record(tmp_path, "cvc-clinicdb", "sequence", 42, 42, 0.60)
    _fake_record(tmp_path, "cvc-clinicdb", "sequence", 43, 43, 0.70)
    _fake_record(tmp_path, "cvc-clinicdb", "random", 42, 42, 0.83)  # alone in its group: not averaged
    table = write_table(tmp_path).read_text()
    summary = table.split("## Mean ± std over runs")[1]
    # mean 65.00, sample std of (60, 70) = 7.07; IoU halves both
    assert (
        "| cvc-clinicdb | sequence | iam_unet | 128 | 20 | 32-true | 2: 42/42, 43/43 | 65.00 ± 7.07 | 32.50 ± 3.54 | 55.00 ± 7.07 | 30.00 ± 0.00 |"
        in summary
    )
    assert "| random |" not in summary


def test_table_shows_the_precision_and_averages_within_one_precision(tmp_path: Path) -> None:
    from polypnet.cli.reproduce import write_table

    _fake_record(tmp_path, "cvc-clinicdb", "random", 42, 42, 0.80)  # an old record: 32-true
    _fake_record(tmp_path, "cvc-clinicdb", "random", 42, 43, 0.90, precision="32-true")
    _fake_record(tmp_path, "cvc-clinicdb", "random", 42, 44, 0.50, precision="bf16-mixed")
    table = write_table(tmp_path).read_text()
    assert "| cvc-clinicdb | random (42) | 44 | 128 | 20 | bf16-mixed | 571,731 | 50.00 |" in table
    summary = table.split("## Mean ± std over runs")[1]
    assert "| cvc-clinicdb | random | iam_unet | 128 | 20 | 32-true | 2: 42/42, 42/43 | 85.00 ± 7.07 |" in summary
    assert "bf16-mixed" not in summary  # alone at its precision: not averaged with the 32-bit runs


def test_table_has_no_summary_for_single_runs(tmp_path: Path) -> None:
    from polypnet.cli.reproduce import write_table

    _fake_record(tmp_path, "kvasir-seg", "random", 42, 42, 0.80)
    assert "Mean ± std" not in write_table(tmp_path).read_text()


def test_an_interrupted_run_resumes_and_a_finished_one_is_not_trained_again(tmp_path: Path, monkeypatch) -> None:
    from polypnet.cli import reproduce

    seen: list[list[str]] = []
    monkeypatch.setattr(reproduce.fit_cli, "main", lambda argv: seen.append(argv) or 0)
    args = reproduce.build_parser().parse_args([])
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert reproduce.train(tmp_path / "c.yaml", tmp_path / "data", 42, run, args) is None  # no clock: not timed
    assert seen[0][seen[0].index("--ckpt_path") + 1] == str(run / "checkpoints" / "last.ckpt")
    (run / "wall_clock.json").write_text('{"seconds": 1234.5, "parts": 2}')
    (run / "test_metrics.json").write_text("{}")
    assert reproduce.train(tmp_path / "c.yaml", tmp_path / "data", 42, run, args) == 1234.5
    assert len(seen) == 1  # finished: recorded again, not retrained


def test_every_protocol_has_a_config_per_dataset_that_fit_accepts() -> None:
    import yaml

    from polypnet.cli import reproduce
    from polypnet.experiments.configs import config_path, list_configs
    from polypnet.experiments.pranet_protocol import PRANET_PROTOCOLS
    from polypnet.experiments.training_records import recipe_of

    for protocol in reproduce.PROTOCOLS:
        if protocol in PRANET_PROTOCOLS:
            continue  # one config for both datasets: tests/experiments/test_pranet_protocol.py
        for dataset, stem in reproduce.CONFIG_STEMS.items():
            # the shipped configs: what an installed polypnet finds by name
            assert f"{protocol}_{stem}" in list_configs(), f"--protocol {protocol} has no config for {dataset}"
            config = config_path(f"{protocol}_{stem}")
            data = yaml.safe_load(config.read_text())
            assert data["data"]["root"] == dataset and data["model"]["model"] == "iam_unet"
            recipe = recipe_of(protocol)  # the name the docs' tables give it
            assert (data["model"]["loss"], data["model"].get("deep_supervision", 0.0)) == (
                ("bce_dice", 0.4) if recipe.startswith("improved") else ("dice", 0.0)
            ), config
            assert ("multi-scale" in recipe) == ("train_scales" in data["model"]), config


def test_the_best_checkpoint_is_chosen_by_its_dice_not_its_epoch(tmp_path: Path) -> None:
    from polypnet.cli.reproduce import best_checkpoints

    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    for name in ("best-epoch003-dice0.8012.ckpt", "best-epoch017-dice0.7950.ckpt", "last.ckpt"):
        (ckpts / name).write_bytes(b"")
    assert [p.name for p in best_checkpoints(tmp_path)] == [
        "best-epoch017-dice0.7950.ckpt",
        "best-epoch003-dice0.8012.ckpt",
    ]


def test_weights_of_an_older_record_get_a_command_naming_what_differs_from_the_defaults() -> None:
    from polypnet.cli.ship_weights import shipped_command

    old = {"protocol": "paper128", "dataset": "cvc-clinicdb", "seed": 42, "split": "random", "split_seed": 42}
    assert shipped_command(old) == "python scripts/reproduce.py --protocol paper128 --datasets cvc-clinicdb --seeds 42"
    other = {**old, "seed": 43, "split": "sequence", "precision": "bf16-mixed"}
    assert shipped_command(other) == (
        "python scripts/reproduce.py --protocol paper128 --datasets cvc-clinicdb "
        "--seeds 43 --split sequence --split-seed 42 --precision bf16-mixed"
    )


def test_make_docs_rewrites_a_stale_protocol_readme(tmp_path: Path) -> None:
    from polypnet.cli.reproduce import write_table
    from polypnet.experiments.report import protocol_readmes

    folder = tmp_path / "results" / "cpu"
    folder.mkdir(parents=True)
    _fake_record(folder, "cvc-clinicdb", "random", 42, 42, 0.80)
    written = write_table(folder).read_text()
    _fake_record(folder, "cvc-clinicdb", "random", 42, 43, 0.90)  # a record added by hand, README not rewritten
    (tmp_path / "results" / "notes").mkdir()
    (tmp_path / "results" / "notes" / "README.md").write_text("# not a protocol folder\n")
    rendered = protocol_readmes(tmp_path)
    assert list(rendered) == [folder / "README.md"]  # a folder without run records is left alone
    assert rendered[folder / "README.md"] != written and "2: 42/42, 42/43" in rendered[folder / "README.md"]


def test_records_name_polypnets_commit_and_never_another_projects(tmp_path: Path, monkeypatch) -> None:
    import re
    import subprocess

    from polypnet.experiments import provenance

    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", provenance.git_commit())  # this checkout
    # an installed copy in a virtual environment inside the user's own repository
    project = tmp_path / "project"
    installed = project / ".venv" / "lib" / "site-packages" / "polypnet"
    installed.mkdir(parents=True)
    for args in (
        ["init", "-q"],
        ["-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "--allow-empty", "-m", "x"],
    ):
        subprocess.run(["git", *args], cwd=project, check=True)
    monkeypatch.setattr(provenance, "_PACKAGE", installed)
    assert provenance.git_commit() == "unknown"


def test_records_name_the_commit_read_before_training(tmp_path: Path, monkeypatch) -> None:
    # A run of hours: the checkout may change while it trains; the record names the code that trained.
    from polypnet.cli import reproduce

    (tmp_path / "cvc-clinicdb").mkdir()
    commits = iter(["before", "after"])
    calls: list = []
    monkeypatch.setattr(reproduce, "git_commit", lambda: next(commits))
    monkeypatch.setattr(reproduce, "train", lambda *a: calls.append("train") or 1.0)
    monkeypatch.setattr(reproduce, "record", lambda *a: calls.append(("record", a[-1])))
    monkeypatch.setattr(reproduce, "write_table", lambda out: out)
    argv = ["--datasets", "cvc-clinicdb", "--seeds", "42", "43", "--data-dir", str(tmp_path), "--out", str(tmp_path)]
    assert reproduce.main(argv) == 0
    assert calls == ["train", ("record", "before"), "train", ("record", "before")]
