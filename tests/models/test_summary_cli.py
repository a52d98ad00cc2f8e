"""``polypnet models summary``: the readable layer table."""

from __future__ import annotations

from polypnet.cli.models import main
from polypnet.models import create_model
from polypnet.models.summary import summarize


def test_summary_rows_cover_every_block_and_sum_to_total() -> None:
    model = create_model("iam_unet")
    rows = summarize(model, (256, 256))
    assert len(rows) == 4 * 3 + 4 + 4 + 1  # encoder, bridge A + 3 B, decoder, head
    assert sum(r.params for r in rows) == 571_731
    assert rows[0].output_shape == (1, 16, 256, 256)
    assert next(r for r in rows if r.name == "bridge.a").output_shape == (1, 256, 16, 16)
    assert rows[-1].name == "head" and rows[-1].output_shape == (1, 1, 256, 256)
    assert rows[1].attention == "SE start 16->2"


def test_summary_command_prints_both_totals(capsys) -> None:
    # Through the command tree, in this process (a fresh one would spend its time importing torch).
    from polypnet.cli.main import main as polypnet

    assert polypnet(["models", "summary", "iam_unet"]) == 0
    out = capsys.readouterr().out
    assert "571,731" in out and "588,483" in out
    assert "decoder.3" in out and "32 x 256 x 256" not in out.splitlines()[0]


def test_summary_overrides_and_errors(capsys) -> None:
    assert main(["summary", "iam_unet", "--set", "attention_position=none", "--size", "64", "64"]) == 0
    out = capsys.readouterr().out
    assert "SE " not in out and "attention_position=none" in out
    assert main(["summary", "iam_unet", "--size", "100", "100"]) == 2
    assert "multiples of 16" in capsys.readouterr().err
    assert main(["summary", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["list"]) == 0
    assert "iam_unet" in capsys.readouterr().out


def test_pretrained_lists_every_shipped_tag_with_its_test_score(capsys) -> None:
    from polypnet.experiments.pranet_table import benchmark_text
    from polypnet.models.pretrained import list_pretrained, pretrained_info

    assert main(["pretrained"]) == 0
    lines = capsys.readouterr().out.splitlines()
    tags = list_pretrained()["iam_unet"]
    assert len(tags) >= 2
    for tag in tags:
        row = next(line for line in lines if line.split()[:2] == ["iam_unet", tag])
        entry = pretrained_info("iam_unet", tag)
        if "benchmark" in entry:  # trained on both datasets: PraNet's benchmark mDice per test set
            assert benchmark_text(entry["benchmark"]) in row
        else:
            scores = (entry["test_dice_global"], entry["test_dice_per_image"], entry["test_iou_global"])
            assert " / ".join(f"{100 * v:.2f}" for v in scores) in row  # F1 / mDice / IoU
        assert entry["protocol"] in row.split()
    assert main(["pretrained", "unet"]) == 2
    assert "no shipped weights for model 'unet'" in capsys.readouterr().err
