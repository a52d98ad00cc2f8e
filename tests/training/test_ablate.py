"""polypnet ablate: study files, arm arguments, a two-arm study end to end on the bundled sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from polypnet.cli import ablate
from polypnet.data import sample_root
from polypnet.experiments.configs import config_path
from polypnet.experiments.studies import StudyError, arm_argv, load_study, read_run


def test_every_shipped_study_loads_and_names_a_real_arm_as_the_papers() -> None:
    names = ablate.available_studies()
    assert {"attention_position", "attention_ratio", "bridge_blocks", "loss", "baselines"} <= set(names)
    for study in ablate.resolve_studies(["all"]):
        assert study.paper_choice in study.arms
    arms = {s.name: list(s.arms) for s in ablate.resolve_studies(["all"])}
    assert arms["bridge_blocks"] == ["n1", "n2", "n3", "n4"]
    assert arms["attention_ratio"] == ["r2", "r4", "r8"]


def test_arm_argv_passes_mappings_as_json() -> None:
    argv = arm_argv({"model.model_kwargs": {"attention_position": "none"}, "model.loss": "tversky"})
    assert argv == ["--model.model_kwargs", '{"attention_position": "none"}', "--model.loss", "tversky"]


def test_bad_study_files_name_the_file_and_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("study: x\narms: {a: {}}\npaper_choice: b\n")
    with pytest.raises(StudyError, match=r"broken\.yaml.*paper_choice 'b'"):
        load_study(path)
    path.write_text("study: x\n")
    with pytest.raises(StudyError, match=r"broken\.yaml.*'arms'"):
        load_study(path)
    with pytest.raises(StudyError, match="no such study"):
        ablate.resolve_studies(["no_such_study"])


def test_two_arm_study_trains_tabulates_plots_and_reuses_finished_runs(tmp_path: Path, capsys) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cvc-clinicdb").symlink_to(sample_root(), target_is_directory=True)
    study = tmp_path / "tiny.yaml"
    study.write_text(
        "study: tiny\ntitle: Tiny\npaper_choice: start\narms:\n"
        "  start: {}\n"
        "  none: {model.model_kwargs: {attention_position: none}}\n"
    )
    out, runs = tmp_path / "results", tmp_path / "runs"
    args = [
        str(study),
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
        "2",
        "--data.image_size",
        "32",
        "--data.num_workers",
        "0",
        "--trainer.enable_progress_bar",
        "false",
        "--data.repeats",
        "1",
        "--data.batch_size",
        "4",
    ]
    assert ablate.main(args) == 0

    summary = json.loads((out / "cpu" / "tiny.json").read_text())
    rows = {r["arm"]: r for r in summary["rows"]}
    # SE blocks carry parameters: the arm without attention must be smaller than the paper preset.
    assert rows["start"]["params"] == 571_731 and rows["none"]["params"] < 571_731
    assert rows["none"]["model_kwargs"] == {"attention_position": "none"}
    for row in rows.values():
        assert row["seeds"] == [42] and row["epochs"] == 2
        assert 0.0 <= row["test_f1"] <= 1.0 and 0.0 <= row["best_val_dice"] <= 1.0
    assert (runs / "cpu" / "base" / "seed42" / "test_metrics.json").is_file()  # the no-override arm: shared
    run = read_run(runs / "cpu" / "tiny" / "none_seed42", "none", 42)
    assert run.epochs == [0, 1] and len(run.val_loss) == 2 and run.finished
    config = (runs / "cpu" / "tiny" / "none_seed42" / "config.yaml").read_text()
    assert "attention_position: none" in config
    table = (out / "cpu" / "tiny.md").read_text()
    assert "**start** (paper) | 571,731 |" in table and "![Tiny](tiny.png)" in table
    assert (out / "cpu" / "tiny.png").stat().st_size > 10_000

    # A second call trains nothing: both runs finished.
    capsys.readouterr()
    assert ablate.main(args) == 0
    assert capsys.readouterr().out.count("finished earlier") == 2

    # The records beside the table stand in for the runs folder, which is not committed.
    records = out / "cpu" / "runs"
    assert sorted(p.name for p in (records / "tiny" / "none_seed42").iterdir()) == sorted(ablate.RECORD_FILES)
    assert not list(records.rglob("*.ckpt"))
    shutil.rmtree(runs)
    assert ablate.main([*args, "--summarize-only"]) == 0
    assert json.loads((out / "cpu" / "tiny.json").read_text()) == summary
    capsys.readouterr()
    assert ablate.main(args) == 0
    assert capsys.readouterr().out.count("finished earlier") == 2
    assert not runs.exists()


def test_an_arm_equal_to_another_studys_arm_reuses_its_finished_run(tmp_path: Path) -> None:
    improved = load_study(config_path("improved", "ablations"))
    assert improved.arms["bce_dice"] == load_study(config_path("loss", "ablations")).arms["bce_dice"]
    runs = tmp_path / "runs"
    own = runs / "improved" / "bce_dice_seed42"
    assert ablate.arm_run_dir(runs, improved, "bce_dice", 42) == own  # nothing finished yet

    finished = runs / "loss" / "bce_dice_seed42"
    finished.mkdir(parents=True)
    (finished / "test_metrics.json").write_text("{}")
    assert ablate.arm_run_dir(runs, improved, "bce_dice", 42) == finished
    assert ablate.arm_run_dir(runs, improved, "bce_dice", 43) == runs / "improved" / "bce_dice_seed43"
    assert ablate.arm_run_dir(runs, improved, "cosine", 42) == runs / "improved" / "cosine_seed42"

    own.mkdir(parents=True)  # a run of its own, even an unfinished one, wins: it resumes
    assert ablate.arm_run_dir(runs, improved, "bce_dice", 42) == own


def test_a_finished_record_counts_as_a_finished_run(tmp_path: Path) -> None:
    improved = load_study(config_path("improved", "ablations"))
    runs, records = tmp_path / "runs", tmp_path / "records"
    assert ablate.arm_run_dir(runs, improved, "cosine", 42, records) == runs / "improved" / "cosine_seed42"
    (records / "improved" / "cosine_seed42").mkdir(parents=True)
    (records / "improved" / "cosine_seed42" / "test_metrics.json").write_text("{}")
    assert ablate.arm_run_dir(runs, improved, "cosine", 42, records) == records / "improved" / "cosine_seed42"
    assert ablate.arm_run_dir(runs, improved, "paper", 42, records) == runs / "base" / "seed42"
    (records / "loss" / "bce_dice_seed42").mkdir(parents=True)
    (records / "loss" / "bce_dice_seed42" / "test_metrics.json").write_text("{}")
    assert ablate.arm_run_dir(runs, improved, "bce_dice", 42, records) == records / "loss" / "bce_dice_seed42"
    # Keeping a record of a record, or of an unfinished run, does nothing.
    assert ablate.keep_record(records / "loss" / "bce_dice_seed42", runs, records) is None
    (runs / "improved" / "strong_aug_seed42").mkdir(parents=True)
    assert ablate.keep_record(runs / "improved" / "strong_aug_seed42", runs, records) is None


def test_seed_by_seed_table_pairs_each_arm_with_the_paper_arm_at_its_seed() -> None:
    from polypnet.experiments.studies import RunResult, Study, per_seed_markdown

    study = Study(name="loss", title="t", arms={"dice": {}, "tversky": {"model.loss": "tversky"}}, paper_choice="dice")

    def run(arm: str, seed: int, val: float, test: float | None) -> RunResult:
        return RunResult(
            arm,
            seed,
            Path("."),
            epochs=[0],
            val_loss=[0.5],
            val_dice=[val - 0.1, val],
            test={} if test is None else {"dice_global": test},
        )

    one_seed = {"dice": [run("dice", 42, 0.6, 0.65)], "tversky": [run("tversky", 42, 0.55, 0.6)]}
    assert per_seed_markdown(study, one_seed) == ""  # a single seed has nothing to pair beyond the main table
    runs = {
        "dice": [run("dice", 42, 0.60, 0.65), run("dice", 43, 0.70, 0.72)],
        "tversky": [run("tversky", 42, 0.55, 0.60), run("tversky", 43, 0.71, None)],
    }  # seed 43 unfinished
    table = per_seed_markdown(study, runs)
    assert "| **dice** (paper) | 60.00 / 65.00 | 70.00 / 72.00 | - | - |" in table
    assert "| tversky | 55.00 / 60.00 | - | -5.00 / -5.00 | - |" in table


def test_paired_differences_leave_out_unfinished_seeds_and_are_drawn(tmp_path: Path) -> None:
    from polypnet.experiments.plots import draw_paired
    from polypnet.experiments.studies import RunResult, Study, paired_deltas

    study = Study(name="loss", title="t", arms={"dice": {}, "tversky": {}, "bce": {}}, paper_choice="dice")

    def run(arm: str, seed: int, val: float, test: float | None) -> RunResult:
        return RunResult(
            arm,
            seed,
            Path("."),
            epochs=[0],
            val_loss=[0.5],
            val_dice=[val],
            test={} if test is None else {"dice_global": test},
        )

    runs = {
        "dice": [run("dice", 42, 0.60, 0.65), run("dice", 43, 0.70, 0.72), run("dice", 44, 0.5, None)],
        "tversky": [run("tversky", 42, 0.55, 0.60), run("tversky", 43, 0.71, None), run("tversky", 44, 0.6, 0.6)],
        "bce": [],
    }
    deltas = paired_deltas(study, runs)
    assert set(deltas) == {"tversky", "bce"} and deltas["bce"] == {}
    assert list(deltas["tversky"]) == [42]  # 43: the arm unfinished; 44: the paper arm unfinished
    assert deltas["tversky"][42] == pytest.approx((-0.05, -0.05))
    figure = draw_paired(study, deltas, tmp_path / "loss_paired.png")
    assert figure is not None and figure.stat().st_size > 5_000
    assert draw_paired(study, {"bce": {}}, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def test_summary_of_several_seeds_links_the_paired_figure(tmp_path: Path) -> None:
    study_file = tmp_path / "tiny.yaml"
    study_file.write_text(
        "study: tiny\ntitle: Tiny\npaper_choice: start\narms:\n  start: {}\n"
        "  none: {model.model_kwargs: {attention_position: none}}\n"
    )
    study = load_study(study_file)
    runs, out = tmp_path / "runs", tmp_path / "out"
    for arm, seed, dice in (("start", 42, 0.6), ("start", 43, 0.7), ("none", 42, 0.62), ("none", 43, 0.66)):
        run_dir = ablate.arm_run_dir(runs, study, arm, seed)
        run_dir.mkdir(parents=True)
        (run_dir / "metrics.csv").write_text(f"epoch,val/loss,val/dice_global\n0,0.5,{dice - 0.1}\n1,0.4,{dice}\n")
        (run_dir / "test_metrics.json").write_text(json.dumps({"metrics": {"test/dice_global": dice}}))
        if arm == "none":  # timed by fit.py's wall clock; the paper arm's runs predate it
            (run_dir / "wall_clock.json").write_text(json.dumps({"seconds": 600 + 120 * (seed - 42), "parts": 1}))
    table = ablate.summarize(
        study, config_path(ablate.BASE_CONFIGS["cpu"]), runs, out, [42, 43], costs=False
    ).read_text()
    assert "| none | 62.00 / 62.00 | 66.00 / 66.00 | +2.00 / +2.00 | -4.00 / -4.00 |" in table
    assert "![paired differences](tiny_paired.png)" in table
    assert "| wall time (min), timed runs |" in table
    assert [
        line.rsplit("|", 2)[-2].strip() for line in table.splitlines() if line.startswith(("| none", "| **start**"))
    ][:2] == ["-", "11.0 ± 1.4"]
    assert (out / "tiny_paired.png").stat().st_size > 5_000
