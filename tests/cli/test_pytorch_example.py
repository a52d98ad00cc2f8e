"""docs/pytorch_example.md runs as written (the README's plain-PyTorch example)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "pytorch_example.md"


def test_the_plain_pytorch_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks, f"no python block in {DOC}"
    monkeypatch.chdir(tmp_path)  # the example saves a weights file in the working directory
    namespace: dict[str, object] = {"__name__": "__example__"}
    exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.count("dice loss") == 4 and "polyp area" in printed
    assert (tmp_path / "iam_unet_weights.pt").is_file()
