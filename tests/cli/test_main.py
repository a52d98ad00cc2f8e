"""The `polypnet` command: subcommands listed, each with --help and examples, dispatch, scripts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from polypnet.cli.main import COMMANDS, Command, main

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED = (
    "fit",
    "evaluate",
    "predict",
    "export",
    "demo",
    "reproduce",
    "ablate",
    "benchmark",
    "compare",
    "data",
    "models",
    "ship-weights",
)
LEAVES = [name for name, node in COMMANDS.items() if isinstance(node, Command)] + [
    f"{group} {name}" for group, node in COMMANDS.items() if isinstance(node, dict) for name in node
]


def test_help_lists_the_command_tree(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    for name in EXPECTED:
        assert f"\n  {name} " in printed
    assert tuple(COMMANDS) == EXPECTED
    assert main(["data", "--help"]) == 0
    printed = capsys.readouterr().out
    assert all(f"\n  {name} " in printed for name in ("check", "prepare", "pack"))


@pytest.mark.parametrize("name", LEAVES)
def test_each_subcommand_has_help_with_examples(name: str, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("gradio") if name == "demo" else None
    try:
        code = main([*name.split(), "--help"])
    except SystemExit as done:  # argparse exits after printing help
        code = done.code
    assert code == 0
    printed = capsys.readouterr().out
    assert "examples:" in printed and f"polypnet {name}" in printed


def test_fit_help_lists_the_short_trainer_flags(capsys: pytest.CaptureFixture) -> None:
    assert main(["fit", "--help"]) == 0
    printed = capsys.readouterr().out
    assert all(flag in printed for flag in ("--max_epochs", "--accelerator", "--devices"))


def test_unknown_command_is_an_error_with_a_suggestion(capsys: pytest.CaptureFixture) -> None:
    assert main(["predcit"]) == 2
    assert "error: unknown command 'predcit'; did you mean 'predict'?" in capsys.readouterr().err
    assert main(["data", "chek"]) == 2
    assert "did you mean 'check'?" in capsys.readouterr().err
    assert main([]) == 2


def test_a_group_command_runs_with_its_arguments(capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "check", "sample"]) == 0
    assert "pairs:       16" in capsys.readouterr().out


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    # ``polypnet fit --help | head``: the reader goes away before the help is written
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from polypnet.cli.main import main; sys.exit(main(['fit', '--help']))"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and err.decode() == ""


def test_a_broken_pipe_that_is_not_the_output_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from polypnet.cli import main as cli

    def broken(*_: object) -> int:
        raise BrokenPipeError("a worker's pipe")

    monkeypatch.setattr(cli, "_dispatch", broken)
    with pytest.raises(BrokenPipeError):
        cli.main(["fit", "--help"])


def test_console_script_and_the_design_card_scripts_work() -> None:
    exe = shutil.which("polypnet", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the polypnet console script is not installed (pip install -e . creates it)")
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("polypnet ")
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "evaluate.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "--checkpoint" in done.stdout
    # the wrappers of every other command are gone: one command tree (the rest are maintainer tools)
    tools = (
        "gpu_wheels.py",
        "gpu_bundle_record.py",
        "gpu_collect.py",
        "gpu_profile.py",
        "gpu_session_record.py",
        "count_published_models.py",
    )
    assert sorted(p.name for p in (REPO_ROOT / "scripts").glob("*.py") if p.name not in tools) == [
        "bench_data.py",
        "evaluate.py",
        "fit.py",
        "make_sample.py",
    ]
