"""polypnet ship-weights: shipping a result's weights, and retiring the ones it replaces under a new tag."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from polypnet.cli import ship_weights
from polypnet.models import create_model, pretrained


@pytest.fixture()
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "weights"
    monkeypatch.setattr(ship_weights, "WEIGHTS_DIR", folder)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", folder)
    pretrained._index.cache_clear()
    yield folder
    pretrained._index.cache_clear()


def _result(tmp_path: Path, name: str, seed: int, dice: float) -> Path:
    """A result JSON as reproduce.py writes it, over a Lightning-shaped checkpoint of random weights."""
    torch.manual_seed(seed)
    net = create_model("iam_unet")
    checkpoint = tmp_path / f"{name}.ckpt"
    torch.save(
        {
            "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
            "hyper_parameters": {"model": "iam_unet", "model_kwargs": {}},
        },
        checkpoint,
    )
    record = {
        "model": "iam_unet",
        "model_kwargs": {},
        "dataset": "kvasir-seg",
        "protocol": name,
        "split": "random",
        "seed": 42,
        "image_size": 64,
        "epochs": 1,
        "test_images": 2,
        "git_commit": "0" * 40,
        "checkpoint": str(checkpoint),
        "command": f"python scripts/reproduce.py --protocol {name}",
        "metrics": {"dice_global": dice, "iou_global": dice / 2, "dice_per_image": dice, "iou_per_image": dice / 2},
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(record))
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _outputs(tag: str) -> torch.Tensor:
    pretrained._index.cache_clear()
    with torch.no_grad():
        return create_model("iam_unet", pretrained=tag).eval()(torch.ones(1, 3, 32, 32))


def test_retire_as_keeps_the_replaced_weights_loadable_under_the_new_tag(tmp_path: Path, weights_dir: Path) -> None:
    old, new = _result(tmp_path, "paper128", seed=0, dice=0.80), _result(tmp_path, "paper", seed=1, dice=0.84)
    assert ship_weights.main([str(old)]) == 0
    old_bytes, old_out = _digest(weights_dir / "iam_unet__kvasir-seg.safetensors"), _outputs("kvasir-seg")

    assert ship_weights.main([str(new), "--retire-as", "kvasir-seg-128"]) == 0
    index = json.loads((weights_dir / "index.json").read_text())["iam_unet"]
    assert set(index) == {"kvasir-seg", "kvasir-seg-128"}
    assert index["kvasir-seg-128"]["file"] == "iam_unet__kvasir-seg-128.safetensors"
    assert index["kvasir-seg-128"]["protocol"] == "paper128" and index["kvasir-seg-128"]["test_dice_global"] == 0.80
    assert index["kvasir-seg"]["protocol"] == "paper" and index["kvasir-seg"]["test_dice_global"] == 0.84
    assert _digest(weights_dir / "iam_unet__kvasir-seg-128.safetensors") == old_bytes  # moved, not re-saved
    assert torch.equal(_outputs("kvasir-seg-128"), old_out)
    assert not torch.equal(_outputs("kvasir-seg"), old_out)


def test_the_index_keeps_each_files_sha256_and_loading_refuses_an_altered_file(
    tmp_path: Path, weights_dir: Path
) -> None:
    assert ship_weights.main([str(_result(tmp_path, "paper", seed=0, dice=0.80))]) == 0
    file = weights_dir / "iam_unet__kvasir-seg.safetensors"
    assert json.loads((weights_dir / "index.json").read_text())["iam_unet"]["kvasir-seg"]["sha256"] == _digest(file)
    _outputs("kvasir-seg")  # loads
    data = bytearray(file.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match its sha256"):
        _outputs("kvasir-seg")


@pytest.mark.parametrize(
    "retire_as, message",
    [
        ("kvasir-seg-128", "already shipped"),  # would overwrite other weights
        ("kvasir-seg", "is the tag being shipped"),
    ],
)
def test_a_retire_tag_that_would_lose_weights_changes_nothing(
    tmp_path: Path, weights_dir: Path, retire_as: str, message: str, capsys: pytest.CaptureFixture
) -> None:
    first = _result(tmp_path, "paper128", seed=0, dice=0.80)
    assert ship_weights.main([str(first)]) == 0
    assert ship_weights.main([str(first), "--tag", "kvasir-seg-128"]) == 0
    before = {p.name: _digest(p) for p in weights_dir.iterdir()}
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        ship_weights.main([str(_result(tmp_path, "paper", seed=1, dice=0.84)), "--retire-as", retire_as])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert {p.name: _digest(p) for p in weights_dir.iterdir()} == before


def test_retiring_a_tag_that_was_never_shipped_names_what_is(
    tmp_path: Path, weights_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert ship_weights.main([str(_result(tmp_path, "paper128", seed=0, dice=0.80)), "--tag", "other"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        ship_weights.main([str(_result(tmp_path, "paper", seed=1, dice=0.84)), "--retire-as", "kvasir-seg-128"])
    err = capsys.readouterr().err
    assert "no weights shipped as 'kvasir-seg'" in err and "shipped: other" in err
    assert not (weights_dir / "iam_unet__kvasir-seg.safetensors").exists()


def test_a_checkpoint_moved_off_its_recorded_path_is_named_and_can_be_given(
    tmp_path: Path, weights_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    result = _result(tmp_path, "paper", seed=0, dice=0.84)
    recorded = Path(json.loads(result.read_text())["checkpoint"])
    returned = recorded.rename(
        tmp_path / "paper_kvasir-seg_random_seed42__best-epoch000-dice0.5000.ckpt"
    )  # as the GPU path returns it
    with pytest.raises(SystemExit):
        ship_weights.main([str(result)])
    err = capsys.readouterr().err
    assert f"checkpoint not found: {recorded}" in err and "--checkpoint" in err
    assert not weights_dir.exists() or not any(weights_dir.iterdir())
    assert ship_weights.main([str(result), "--checkpoint", str(returned)]) == 0
    assert json.loads((weights_dir / "index.json").read_text())["iam_unet"]["kvasir-seg"]["test_dice_global"] == 0.84


def _pranet_record(tmp_path: Path) -> Path:
    """A PraNet-protocol record (as ``polypnet reproduce --protocol pranet`` writes it) over random weights."""
    per_dataset = json.loads(_result(tmp_path, "pranet", seed=3, dice=0.5).read_text())
    sets = [("Kvasir", "kvasir-seg", 100, 0.89), ("CVC-ClinicDB", "cvc-clinicdb", 62, 0.9)]
    record = {
        "format": "polypnet-pranet/1",
        "protocol": "pranet",
        "seed": 42,
        "split": "pranet",
        "split_seed": 42,
        "image_size": 64,
        "epochs": 1,
        "precision": "32-true",
        "model": "iam_unet",
        "model_kwargs": {},
        "checkpoint": per_dataset["checkpoint"],
        "git_commit": "0" * 40,
        "command": "polypnet reproduce --protocol pranet --seeds 42",
        "sets": [
            {"name": name, "dataset": ds, "metrics": {"mdice": d, "miou": d - 0.05, "mae": 0.03, "images": float(n)}}
            for name, ds, n, d in sets
        ],
    }
    path = tmp_path / "pranet_seed42.json"
    path.write_text(json.dumps(record))
    return path


def test_a_pranet_benchmark_record_ships_as_polyp_pranet(tmp_path: Path, weights_dir: Path) -> None:
    from polypnet.cli.models import format_pretrained
    from polypnet.models.pretrained import BENCHMARK_DATASET

    record = _pranet_record(tmp_path)
    assert ship_weights.main([str(record)]) == 0
    entry = json.loads((weights_dir / "index.json").read_text())["iam_unet"]["polyp-pranet"]
    assert entry["dataset"] == BENCHMARK_DATASET and entry["split"] == "pranet" and entry["test_images"] == 162
    assert entry["benchmark"] == {"Kvasir": {"mdice": 0.89, "miou": 0.84}, "CVC-ClinicDB": {"mdice": 0.9, "miou": 0.85}}
    assert "test_dice_global" not in entry  # never scored that way: no number stands in for it
    # The shipped weights are the checkpoint's.
    checkpoint = torch.load(json.loads(record.read_text())["checkpoint"], weights_only=True)["state_dict"]
    net = create_model("iam_unet", pretrained="polyp-pranet")
    assert all(torch.equal(v, checkpoint[f"net.{k}"]) for k, v in net.state_dict().items())
    listing = format_pretrained("iam_unet")
    assert "PraNet's benchmark, mDice: CVC-ClinicDB 90.00, Kvasir 89.00 (162 images)" in listing
