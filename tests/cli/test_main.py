"""The `polypnet` command: subcommands listed, each with --help and examples, dispatch, scripts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from polypnet.cli.main import COMMANDS, main

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ("fit", "evaluate", "predict", "export", "models", "check-data", "prepare-data", "benchmark")


def test_help_lists_the_working_subcommands(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    for name in EXPECTED:
        assert f"\n  {name} " in printed
    assert tuple(COMMANDS) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_each_subcommand_has_help_with_examples(name: str, capsys: pytest.CaptureFixture) -> None:
    try:
        code = main([name, "--help"])
    except SystemExit as done:  # argparse exits after printing help
        code = done.code
    assert code == 0
    printed = capsys.readouterr().out
    assert "examples:" in printed and f"polypnet {name}" in printed


def test_unknown_command_is_an_error_with_a_suggestion(capsys: pytest.CaptureFixture) -> None:
    assert main(["predcit"]) == 2
    assert "error: unknown command 'predcit'; did you mean 'predict'?" in capsys.readouterr().err
    assert main([]) == 2


def test_a_wrapped_command_runs_with_its_arguments(capsys: pytest.CaptureFixture) -> None:
    assert main(["check-data", "sample"]) == 0
    assert "pairs:       16" in capsys.readouterr().out


def test_console_script_and_scripts_work() -> None:
    exe = shutil.which("polypnet", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the polypnet console script is not installed (pip install -e . creates it)")
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("polypnet ")
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "predict.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage: predict.py" in done.stdout
