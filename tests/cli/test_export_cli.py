"""polypnet export: ONNX (dynamic batch and size) and TorchScript, parity with PyTorch printed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from polypnet.cli.export import main
from polypnet.inference import load_checkpoint


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_export_prints_parity_and_the_onnx_file_runs_in_onnxruntime_at_any_batch_and_size(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "exports"

    assert (
        main(
            ["--model", "iam_unet", "--weights", str(weights), "--image-size", "64", "--out", str(out), "--name", "net"]
        )
        == 0
    )

    printed = capsys.readouterr().out
    assert "parity with PyTorch" in printed
    table_rows = [line for line in printed.splitlines() if "1x3x64x64" in line or "2x3x48x96" in line]
    assert len(table_rows) == 4 and all(" ok " in row for row in table_rows)  # 2 formats x 2 shapes
    assert sorted(p.name for p in out.iterdir()) == ["net.onnx", "net.torchscript.pt"]  # no external data

    net, _ = load_checkpoint(weights, model="iam_unet")
    session = ort.InferenceSession(str(out / "net.onnx"), providers=["CPUExecutionProvider"])
    traced = torch.jit.load(str(out / "net.torchscript.pt"))
    for shape in ((3, 3, 32, 80), (1, 3, 128, 64)):  # neither the export's nor the printed check's shape
        x = torch.rand(*shape)
        with torch.no_grad():
            expected = net(x).numpy()
            np.testing.assert_allclose(traced(x).numpy(), expected, rtol=1e-4, atol=1e-4)
        (got,) = session.run(None, {"image": x.numpy()})
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)

    meta = {p.key: p.value for p in onnx.load(str(out / "net.onnx")).metadata_props}
    assert meta["polypnet.model"] == "iam_unet" and meta["polypnet.image_size"] == "64"
    extra = {"polypnet.json": ""}
    torch.jit.load(str(out / "net.torchscript.pt"), _extra_files=extra)
    assert json.loads(extra["polypnet.json"])["polypnet.image_size"] == "64"


def test_bad_format_and_missing_checkpoint_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:  # argparse's own choices check
        main(["--model", "iam_unet", "--format", "tflite"])
    assert done.value.code == 2
    assert main(["--checkpoint", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path)]) == 2
    assert "error: checkpoint not found" in capsys.readouterr().err


def test_an_existing_export_is_replaced_only_with_overwrite(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # The rule does not depend on the format: TorchScript exports in a second, ONNX in tens of them.
    out = tmp_path / "exports"
    out.mkdir()
    theirs = b"someone else's model"
    (out / "net.onnx").write_bytes(theirs)
    argv = ["--model", "iam_unet", "--weights", str(weights), "--image-size", "32", "--out", str(out)]
    argv += ["--name", "net", "--format", "torchscript"]

    assert main(argv) == 0  # another format's file of the same name: fine
    (out / "net.torchscript.pt").write_bytes(theirs)
    assert main(argv) == 2
    assert "net.torchscript.pt exists: pass --overwrite" in capsys.readouterr().err
    assert (out / "net.torchscript.pt").read_bytes() == theirs  # untouched
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "net.torchscript.pt").read_bytes() != theirs
    assert (out / "net.onnx").read_bytes() == theirs  # only the format asked for is replaced
