"""``polypnet ship-weights``: copy a recorded run's weights into the package, with provenance.

    polypnet ship-weights results/cpu/cvc-clinicdb_seed42.json
    polypnet ship-weights results/pranet/pranet_seed42.json      # pretrained="polyp-pranet"

Reads a result JSON written by ``polypnet reproduce``, saves the network's state dict (fp32)
to ``src/polypnet/models/resources/weights/<model>__<tag>.safetensors`` and records in ``index.json``
the protocol, split, seed, input size, test scores and the command that made them, so that
``create_model(model, pretrained=dataset)`` loads them offline. A record of PraNet's benchmark
(``polypnet reproduce --protocol pranet``: one model on both datasets) ships as ``polyp-pranet``
with the mDice and mIoU of each of PraNet's test sets.

    polypnet ship-weights results/paper/kvasir-seg_seed42.json --retire-as kvasir-seg-128

first renames the weights shipped under the tag (file and index entry, bytes unchanged) so that
they stay loadable as ``pretrained="kvasir-seg-128"``; commit both files afterwards.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors.torch import save_file

from ..experiments.pranet_table import RECORD_FORMAT as PRANET_FORMAT
from ..experiments.pranet_table import benchmark_scores
from ..inference.checkpoint import load_checkpoint
from ..models.pretrained import BENCHMARK_DATASET, WEIGHTS_DIR, file_sha256


def shipped_command(result: dict) -> str:
    """The reproduce.py command of a result that predates recording its own: protocol, dataset and
    seed, and the precision, split and split seed where they are not the defaults."""
    parts = [
        "python scripts/reproduce.py",
        f"--protocol {result['protocol']}",
        f"--datasets {result['dataset']}",
        f"--seeds {result['seed']}",
    ]
    if result.get("split", "random") != "random":
        parts.append(f"--split {result['split']}")
    if result.get("split_seed", result["seed"]) != result["seed"]:
        parts.append(f"--split-seed {result['split_seed']}")
    if result.get("precision", "32-true") != "32-true":
        parts.append(f"--precision {result['precision']}")
    return " ".join(parts)


def retire(index: dict, model: str, tag: str, new_tag: str, weights_dir: Path) -> str:
    """Move the weights shipped as ``tag`` of ``model`` to ``new_tag``: rename the file and move its
    index entry (in ``index``, in place). Returns the new file name; ValueError, before anything
    moves, when there is nothing under ``tag``, ``new_tag`` is taken, or a file is missing."""
    tags = index.get(model, {})
    if new_tag == tag:
        raise ValueError(f"--retire-as {new_tag!r} is the tag being shipped")
    if tag not in tags:
        raise ValueError(
            f"--retire-as {new_tag!r}: no weights shipped as {tag!r} for {model!r} to retire; "
            f"shipped: {', '.join(sorted(tags)) or 'none'}"
        )
    if new_tag in tags:
        raise ValueError(f"--retire-as {new_tag!r}: that tag is already shipped ({tags[new_tag]['file']})")
    old_file, new_file = weights_dir / tags[tag]["file"], f"{model}__{new_tag}{Path(tags[tag]['file']).suffix}"
    if not old_file.is_file():
        raise ValueError(f"--retire-as {new_tag!r}: {old_file} is listed in index.json but missing")
    if (weights_dir / new_file).exists():
        raise ValueError(f"--retire-as {new_tag!r}: {weights_dir / new_file} exists but is not in index.json")
    old_file.rename(weights_dir / new_file)
    tags[new_tag] = {**tags.pop(tag), "file": new_file}
    return new_file


def default_tag(result: dict) -> str:
    """The dataset for a per-dataset run; ``polyp-<protocol>`` for a PraNet-benchmark model."""
    if result.get("format") == PRANET_FORMAT:
        return "polyp-" + result["protocol"].replace("_", "-")
    return result["dataset"]


def index_entry(result: dict, filename: str, result_file: str) -> dict:
    """The weights index entry of a result: how the weights were made and their test scores.

    A per-dataset run (``polypnet reproduce``) brings its test split's F1, mDice and IoU; a
    PraNet-benchmark run (``--protocol pranet``), trained on both datasets, brings ``benchmark``:
    mDice and mIoU of each of PraNet's test sets, scored by pysodmetrics at original size."""
    entry = {
        "file": filename,
        "model_kwargs": result.get("model_kwargs") or {},
        "protocol": result["protocol"],
        "split": result["split"],
        "seed": result["seed"],
        # The split's own seed: a run may be trained with another seed than the one that drew its split.
        "split_seed": result.get("split_seed", result["seed"]),
        "image_size": result["image_size"],
        "epochs": result["epochs"],
        "git_commit": result["git_commit"],
        "result_file": result_file,
        "precision": result.get("precision", "32-true"),  # records older than the field ran in fp32
        "command": result.get("command") or shipped_command(result),
    }
    if result.get("format") == PRANET_FORMAT:
        return {**entry, "dataset": BENCHMARK_DATASET, **benchmark_scores(result)}
    metrics = result["metrics"]
    return {
        **entry,
        "dataset": result["dataset"],
        "test_images": result["test_images"],
        "test_dice_global": metrics["dice_global"],
        "test_iou_global": metrics["iou_global"],
        "test_dice_per_image": metrics["dice_per_image"],
        "test_iou_per_image": metrics["iou_per_image"],
    }


def _write_index(path: Path, index: dict) -> None:
    path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Ship the weights of one result JSON; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("result", type=Path, help="results/<protocol>/<dataset>_seed<k>.json")
    p.add_argument("--tag", help="name to load them by (default: the dataset)")
    p.add_argument(
        "--checkpoint",
        type=Path,
        help="the run's checkpoint, where it is not at the result's own path (a run made on another "
        "machine, such as the GPU path's returned <protocol>_<run>__best-*.ckpt)",
    )
    p.add_argument(
        "--retire-as",
        metavar="TAG",
        help="keep the weights now shipped under the tag, renamed to TAG (file and index entry)",
    )
    args = p.parse_args(argv)
    if not args.result.is_file():
        p.error(f"result file not found: {args.result}")
    result = json.loads(args.result.read_text())
    try:
        net, _ = load_checkpoint(args.checkpoint or result["checkpoint"])
    except FileNotFoundError as err:  # load_checkpoint names the path; say where it came from
        hint = "" if args.checkpoint else f" (the path {args.result} records; pass --checkpoint where the file is now)"
        p.error(f"{err}{hint}")
    tag = args.tag or default_tag(result)
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    index_path = WEIGHTS_DIR / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    if args.retire_as:
        try:
            moved = retire(index, result["model"], tag, args.retire_as, WEIGHTS_DIR)
        except ValueError as err:
            p.error(str(err))
        _write_index(index_path, index)  # at once: a failure below cannot leave the renamed file unlisted
        print(f"retired {tag!r} as {args.retire_as!r} ({WEIGHTS_DIR / moved})")
    elif tag in index.get(result["model"], {}):
        print(f"replacing the weights shipped as {tag!r} (--retire-as TAG would keep them)")
    filename = f"{result['model']}__{tag}.safetensors"
    state = {k: v.float().contiguous() for k, v in net.state_dict().items()}
    save_file(state, WEIGHTS_DIR / filename, metadata={"model": result["model"], "tag": tag})
    entry = index_entry(result, filename, str(args.result))
    index.setdefault(result["model"], {})[tag] = {**entry, "sha256": file_sha256(WEIGHTS_DIR / filename)}
    _write_index(index_path, index)
    size = (WEIGHTS_DIR / filename).stat().st_size / 2**20
    print(f"shipped {WEIGHTS_DIR / filename} ({size:.1f} MiB) as {result['model']!r}, pretrained={tag!r}")
    return 0
