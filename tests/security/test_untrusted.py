"""Files from users are untrusted: no code runs from a checkpoint, memory stays bounded, no run
destroys another's records, every error is one line (exit 2), nothing is lost silently
(docs/security.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from polypnet.cli.main import main as polypnet

from .conftest import REPO
from .files import truncated_copy
from .peak_memory import bomb_mix, peak_predict


def _one_error_line(err: str, *needles: str) -> str:
    """The single ``error:`` line of stderr, which must name every needle; no traceback."""
    assert "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _hub_load(**kwargs: object) -> torch.nn.Module:
    return torch.hub.load(str(REPO), "iam_unet", source="local", trust_repo=True, **kwargs)


# --------------------------------------------------------------------------------------------
# 1. No code runs from a checkpoint


def _predict(src: Path, out: Path, *model: str) -> int:
    return polypnet(
        ["predict", str(src), *model, "--image-size", "64", "--out", str(out), "--no-progress", "--device", "cpu"]
    )


def _evaluate(out: Path, *model: str) -> int:
    return polypnet(
        [
            "evaluate",
            *model,
            "--data",
            "sample",
            "--split",
            "all",
            "--out",
            str(out),
            "--grid",
            "0",
            "--image-size",
            "64",
        ]
    )


COMMANDS = {
    "predict --checkpoint": lambda f, t, i: _predict(i, t / "out", "--checkpoint", str(f)),
    "predict --weights": lambda f, t, i: _predict(i, t / "out", "--model", "iam_unet", "--weights", str(f)),
    "evaluate --checkpoint": lambda f, t, i: _evaluate(t / "ev", "--checkpoint", str(f)),
    "evaluate --weights": lambda f, t, i: _evaluate(t / "ev", "--model", "iam_unet", "--weights", str(f)),
    "export --checkpoint": lambda f, t, i: polypnet(
        ["export", "--checkpoint", str(f), "--out", str(t / "exports"), "--format", "onnx", "--image-size", "64"]
    ),
    "fit --ckpt_path": lambda f, t, i: polypnet(
        ["fit", "--ckpt_path", str(f), "--run_dir", str(t / "run"), "--max_epochs", "1"]
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", ["checkpoint", "state_dict"])
def test_a_pickle_that_runs_code_is_refused_on_every_path(
    command: str,
    kind: str,
    request: pytest.FixtureRequest,
    marker: Path,
    images: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evil = request.getfixturevalue("evil_checkpoint" if kind == "checkpoint" else "evil_state_dict")
    monkeypatch.chdir(tmp_path)
    assert COMMANDS[command](evil, tmp_path, images) == 2
    assert not marker.exists(), "the checkpoint's code ran"
    _one_error_line(capsys.readouterr().err, str(evil), "refused")
    # Nothing was written for the refused run.
    assert not any((tmp_path / name).exists() for name in ("out", "ev", "exports", "run"))


@pytest.mark.parametrize("kind", ["checkpoint", "state_dict"])
def test_torch_hub_refuses_a_pickle_that_runs_code(kind: str, request: pytest.FixtureRequest, marker: Path) -> None:
    from polypnet.inference.checkpoint import UnsafeCheckpointError

    evil = request.getfixturevalue("evil_checkpoint" if kind == "checkpoint" else "evil_state_dict")
    with pytest.raises(UnsafeCheckpointError, match="refused") as info:
        _hub_load(weights=str(evil))
    assert not marker.exists(), "the checkpoint's code ran"
    assert str(evil) in str(info.value) and "\n" not in str(info.value)


def test_real_lightning_checkpoint_still_loads_safely(lightning_checkpoint: Path, images: Path, tmp_path: Path) -> None:
    # Our own checkpoints hold hyper-parameters, loop, optimizer and callback state: all of it must
    # pass the weights-only unpickler, on the path every command uses.
    from polypnet.inference.checkpoint import load_model

    net, info = load_model(checkpoint=lightning_checkpoint)
    assert info["model"] == "iam_unet" and info["image_size"] == 32
    assert _predict(images, tmp_path / "out", "--checkpoint", str(lightning_checkpoint)) == 0
    model = _hub_load(weights=str(lightning_checkpoint))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in net.parameters())


def test_no_checkpoint_load_in_the_package_unpickles_arbitrary_objects() -> None:
    # One safe loader: no torch.load with weights_only=False, or without weights_only, anywhere else.
    offenders = []
    for path in sorted((REPO / "src" / "polypnet").rglob("*.py")) + [REPO / "hubconf.py"]:
        text = path.read_text()
        if "weights_only=False" in text or ("torch.load(" in text and path.name != "checkpoint.py"):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == [], f"checkpoints must be read through polypnet.inference.checkpoint: {offenders}"


# --------------------------------------------------------------------------------------------
# 4. One line, exit 2: truncated checkpoints, bad fit arguments


@pytest.mark.parametrize("command", ["predict --weights", "evaluate --weights"])
def test_a_truncated_checkpoint_is_one_line(
    command: str,
    truncated_state_dict: Path,
    images: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert COMMANDS[command](truncated_state_dict, tmp_path, images) == 2
    _one_error_line(capsys.readouterr().err, str(truncated_state_dict), "truncated or corrupt")


def test_torch_hub_names_a_truncated_checkpoint(truncated_state_dict: Path) -> None:
    from polypnet.inference.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        _hub_load(weights=str(truncated_state_dict))
    assert str(truncated_state_dict) in str(info.value) and "\n" not in str(info.value)


def test_a_truncated_lightning_checkpoint_is_one_line_in_fit(
    lightning_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    cut = truncated_copy(lightning_checkpoint, tmp_path / "cut.ckpt")
    assert polypnet(["fit", "--ckpt_path", str(cut), "--run_dir", str(tmp_path / "run")]) == 2
    _one_error_line(capsys.readouterr().err, str(cut), "truncated or corrupt")
    assert not (tmp_path / "run").exists()


def test_fit_names_a_missing_checkpoint_before_writing_anything(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert polypnet(["fit", "--ckpt_path", "gone/last.ckpt"]) == 2
    _one_error_line(capsys.readouterr().err, "gone/last.ckpt", "no such checkpoint")
    assert list(tmp_path.iterdir()) == []


FIT_ERRORS = {
    "batch size 0": (["--data.batch_size", "0"], "batch_size"),
    "image size 250": (["--data.image_size", "250"], "250"),
    "max_epochs 0": (["--max_epochs", "0"], "max_epochs"),
}


@pytest.mark.parametrize("case", FIT_ERRORS)
def test_fit_checks_its_arguments_before_any_data_is_decoded(case: str, tmp_path: Path) -> None:
    # A fresh process: Lightning's log handlers outlive one in-process run.
    args, needle = FIT_ERRORS[case]
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fit.py"), *args, "--enable_progress_bar", "false"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    _one_error_line(proc.stderr, needle)
    assert "polypnet.data:" not in proc.stderr + proc.stdout  # the data module never looked at the data
    assert not (tmp_path / "runs").exists(), "a failed fit left a run folder behind"


# --------------------------------------------------------------------------------------------
# 2. Bounded memory: a pixel limit before decoding, batches by pixels


def test_an_image_over_the_pixel_limit_is_skipped_before_decoding(tmp_path: Path) -> None:
    # A 20000 x 20000 PNG: 1.2 MB on disk, 1.2 GB decoded; the header alone decides.
    # Beside it one image just under the default limit of 50 megapixels (decoded and predicted at
    # its own size) and two small ones; the record of this mix at 256 px is peak_memory.py's.
    src = bomb_mix(tmp_path / "mix")
    out = tmp_path / "out"
    code, peak_mib, err = peak_predict(
        [str(src), "--model", "iam_unet", "--image-size", "64", "--out", str(out), "--no-progress", "--device", "cpu"],
        tmp_path,
    )
    assert code == 1, err[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    skipped = {Path(s["path"]).name: s["reason"] for s in summary["skipped"]}
    assert list(skipped) == ["bomb.png"]
    assert "400.0 megapixels" in skipped["bomb.png"] and "--max-megapixels" in skipped["bomb.png"]
    assert summary["images"] == 3
    assert cv2.imread(str(out / "masks" / "big.png"), cv2.IMREAD_GRAYSCALE).shape == (7000, 7000)
    assert peak_mib < 2048, f"peak resident memory {peak_mib:.0f} MiB"


def test_the_pixel_limit_is_a_flag(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # 48 x 64 = 3072 pixels each: a limit of 0.003 megapixels skips both, and says so.
    assert _predict_flags(images, out, "--max-megapixels", "0.003") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 0 and len(summary["skipped"]) == 2
    assert all("0.003 megapixels" in s["reason"] for s in summary["skipped"])


def _predict_flags(src: Path, out: Path, *extra: str) -> int:
    return polypnet(
        [
            "predict",
            str(src),
            "--model",
            "iam_unet",
            "--image-size",
            "64",
            "--out",
            str(out),
            "--no-progress",
            "--device",
            "cpu",
            *extra,
        ]
    )


def test_batches_are_bounded_by_pixels_not_by_count() -> None:
    from polypnet.inference.files import pixel_batches

    # Sixteen 36-megapixel photos went 8 to a batch (5 GB); now one each. Small images still
    # fill a batch; an unknown size (None: the decoder will say why) gets one of its own.
    sizes: list[int | None] = [36_000_000] * 4 + [300_000] * 20 + [None, 1000]
    batches = pixel_batches(sizes, batch_size=8, max_pixels=50_000_000)
    assert [len(b) for b in batches] == [1, 1, 1, 8, 8, 5, 1, 1]
    assert batches[3][0] == 3 and batches[-2] == [24]  # the 4th photo with 7 small images
    assert [i for b in batches for i in b] == list(range(len(sizes)))  # order kept
    assert all(sum(sizes[i] or 0 for i in b) <= 50_000_000 for b in batches)


# --------------------------------------------------------------------------------------------
# 3. No run destroys another's records


def test_predict_refuses_a_folder_holding_another_runs_results(
    images: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    assert _predict_flags(images / "a.png", out) == 0
    before = (out / "summary.json").read_text()
    capsys.readouterr()
    assert _predict_flags(images / "b.jpg", out) == 2
    _one_error_line(capsys.readouterr().err, str(out), "--overwrite")
    assert (out / "summary.json").read_text() == before and not (out / "masks" / "b.png").exists()
    # --overwrite replaces the earlier results: no mask of the first run is left to mislead.
    assert _predict_flags(images / "b.jpg", out, "--overwrite") == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["b.png"]
    assert json.loads((out / "summary.json").read_text())["settings"]["input"].endswith("b.jpg")


def test_evaluate_writes_to_a_folder_named_after_model_and_data_and_git_ignores_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    state_dict_file: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    args = [
        "evaluate",
        "--model",
        "iam_unet",
        "--weights",
        str(state_dict_file),
        "--data",
        "sample",
        "--split",
        "all",
        "--grid",
        "0",
        "--image-size",
        "64",
    ]
    assert polypnet(args) == 0
    (folder,) = (tmp_path / "evaluations").iterdir()
    assert "iam_unet" in folder.name and "state_dict" in folder.name and "sample" in folder.name
    assert (folder / "metrics.json").is_file()
    capsys.readouterr()
    assert polypnet(args) == 2
    _one_error_line(capsys.readouterr().err, folder.name, "--overwrite")
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout: cannot ask git what it ignores")
    ignored = subprocess.run(["git", "check-ignore", "-q", f"evaluations/{folder.name}/metrics.json"], cwd=REPO)
    assert ignored.returncode == 0, "evaluations/ is not git-ignored"


# --------------------------------------------------------------------------------------------
# 5. Nothing is lost silently


def test_a_dangling_link_is_listed_and_exit_is_1(images: Path, tmp_path: Path) -> None:
    (images / "gone.png").symlink_to(tmp_path / "nowhere.png")
    out = tmp_path / "out"
    assert _predict_flags(images, out) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 2
    (gone,) = summary["skipped"]
    assert gone["path"].endswith("gone.png") and "dangling" in gone["reason"]


def _video_with_bad_frames(path: Path, frames: int, good: int) -> Path:
    """An MJPG avi of ``frames`` frames whose frames after the first ``good`` do not decode."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    assert len(starts) == frames
    for start in starts[good:]:  # wipe each later JPEG's header: the frame is there but undecodable
        data[start : start + 600] = bytes(600)
    path.write_bytes(bytes(data))
    return path


def test_undecodable_video_frames_are_counted_and_exit_is_1(tmp_path: Path) -> None:
    video = _video_with_bad_frames(tmp_path / "clip.avi", frames=40, good=7)
    out = tmp_path / "out"
    assert _predict_flags(video, out) == 1
    summary = json.loads((out / "summary.json").read_text())
    (entry,) = summary["videos"]
    assert entry["frames"] == 7 and entry["frames_lost"] == 33
    assert summary["frames_lost"] == 33


# --------------------------------------------------------------------------------------------
# 6. The user-facing predictor checks its input; the network does not


def test_predictor_rejects_non_finite_input_and_scales_uint8() -> None:
    from polypnet.inference.predictor import Predictor
    from polypnet.models import create_model

    predictor = Predictor(create_model("iam_unet"), image_size=64, device="cpu")
    x = torch.rand(2, 3, 64, 64)
    x[1, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="not finite"):
        predictor.probabilities(x)
    pixels = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)
    scaled = predictor.probabilities(pixels.double() / 255)  # float64 is accepted too
    assert torch.allclose(predictor.probabilities(pixels), scaled, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        predictor.probabilities(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match="dtype"):
        predictor.probabilities(torch.ones(1, 3, 64, 64, dtype=torch.int64))


# --------------------------------------------------------------------------------------------
# 7. No avoidable warning in what a newcomer reads


def test_fit_output_carries_no_avoidable_warning(fit_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    _, proc = fit_run
    text = proc.stdout + proc.stderr
    for noise in ("litlogger", "LeafSpec", "multiple `ModelCheckpoint`", "deprecated"):
        assert noise not in text, text[-3000:]
