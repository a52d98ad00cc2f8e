"""Helper of ``test_ddp.py``: validate, test and predict given weights on N CPU processes (DDP).

    python tests/distributed/ddp_eval.py WEIGHTS.pt OUT_DIR DEVICES

Lightning's ``ddp`` strategy starts the other ranks by running this file again. Rank 0 writes
``OUT_DIR/metrics.json``; every rank writes ``OUT_DIR/predict-rank{R}.json`` (its sample count).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import torch

from polypnet.data import PolypDataModule
from polypnet.training.module import PolypSegModule

#: 16 bundled pairs: val 3, test 5, train 8 (odd evaluation splits).
DATA = dict(root="sample", image_size=32, batch_size=2, val_fraction=0.2, test_fraction=0.3)


def evaluate(weights: Path, out_dir: Path, devices: int) -> dict[str, float]:
    """Val and test metrics of ``weights``; also writes the files described above."""
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    model = PolypSegModule()
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    dm = PolypDataModule(**DATA, run_dir=str(out_dir))
    metrics = {
        **trainer.validate(model, datamodule=dm, verbose=False)[0],
        **trainer.test(model, datamodule=dm, verbose=False)[0],
    }
    batches = trainer.predict(model, datamodule=dm)  # this rank's predictions only
    count = sum(int(b.shape[0]) for b in batches)
    (out_dir / f"predict-rank{trainer.global_rank}.json").write_text(json.dumps({"samples": count}))
    if trainer.is_global_zero:
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    evaluate(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
