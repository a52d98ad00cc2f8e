"""The two steps every figure of polypnet shares: a headless pyplot, and writing the file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # matplotlib loads only when a figure is drawn
    from matplotlib.figure import Figure

#: JPEG quality of photo figures (results/ keeps each under ~200 KB at 1200 px).
JPEG_QUALITY = 80


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend: figures are files, never windows (training runs headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: Path, dpi: int = 100) -> Path:
    """Lay out, write (creating the folder) and close ``fig``; returns ``path``. A ``.jpg`` path gets
    JPEG quality 80: photos (overlay grids) stay small enough to keep beside the records."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    fig.savefig(path, dpi=dpi, **({"pil_kwargs": {"quality": JPEG_QUALITY}} if jpeg else {}))
    pyplot().close(fig)
    return path
