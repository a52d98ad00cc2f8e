"""The experiment configs shipped with the package (the repository's top-level ``configs/``).

A config is named by its file stem (``paper_cvc``, ``ablations/loss``) or given as a path; the
wheel carries the same files, so a name works wherever polypnet is installed.
"""

from __future__ import annotations

from pathlib import Path

#: The packaged copy of the top-level ``configs/`` folder (a link to it in a source checkout).
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def list_configs(folder: str = "") -> list[str]:
    """Names of the shipped configs (in ``folder``, e.g. ``ablations``), without ``.yaml``."""
    return sorted(p.stem for p in (CONFIG_DIR / folder).glob("*.yaml"))


def config_path(name: str | Path, folder: str = "") -> Path:
    """A config file: ``name`` itself when it is an existing file, else the shipped config of that
    name (with or without ``.yaml``); FileNotFoundError listing the shipped ones otherwise."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / folder / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    raise FileNotFoundError(
        f"config {str(name)!r} is neither a file nor a shipped config; shipped: {', '.join(list_configs(folder))}"
    )
