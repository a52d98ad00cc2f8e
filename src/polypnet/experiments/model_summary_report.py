"""The layer table of docs/architecture.md: ``polypnet models summary``'s output, from the code itself."""

from __future__ import annotations

from ..models import create_model
from ..models.summary import format_summary, summarize


def model_summary_markdown(name: str = "iam_unet", size: int = 256) -> str:
    """The summary of the registered model ``name`` at ``size`` px, as a console block."""
    model = create_model(name)
    rows = summarize(model, (size, size))
    text = format_summary(model, rows, title=f"{name} @ {size}x{size}")
    return f"```\n$ polypnet models summary {name}\n{text}\n```\n"
