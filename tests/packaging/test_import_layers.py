"""Imports go one way: cli -> experiments -> training, inference -> models, data (lazy imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

from ..conftest import REPO_ROOT

#: A subpackage may import those of a lower rank only (and itself).
RANK = {"cli": 3, "experiments": 2, "training": 1, "inference": 1, "models": 0, "data": 0}


def _targets(node: ast.AST, parts: tuple[str, ...]) -> list[str]:
    """The polypnet subpackages an import statement in module ``parts`` (relative to the package) names."""
    if isinstance(node, ast.Import):
        names = [a.name.split(".") for a in node.names if a.name.startswith("polypnet.")]
        return [n[1] for n in names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        path = list(parts[:-1])[: len(parts) - node.level]
    elif node.module and node.module.split(".")[0] == "polypnet":
        path = []
        node = ast.ImportFrom(module=".".join(node.module.split(".")[1:]) or None, names=node.names, level=1)
    else:
        return []
    path += node.module.split(".") if node.module else []
    return [path[0]] if path else [a.name for a in node.names]


def layer_violations(package: Path) -> list[str]:
    """``file:line a -> b`` for every import of a subpackage of equal or higher rank."""
    found = []
    for file in sorted(package.rglob("*.py")):
        parts = file.relative_to(package).parts
        if len(parts) < 2 or parts[0] not in RANK:
            continue
        for node in ast.walk(ast.parse(file.read_text())):
            for target in _targets(node, parts):
                if target in RANK and target != parts[0] and RANK[target] >= RANK[parts[0]]:
                    found.append(f"{file.relative_to(package)}:{node.lineno} {parts[0]} -> {target}")
    return found


def test_the_package_imports_one_way() -> None:
    assert layer_violations(REPO_ROOT / "src" / "polypnet") == []


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    for name in ("cli", "experiments", "models", "data", "inference"):
        (tmp_path / name).mkdir()
    (tmp_path / "experiments" / "report.py").write_text(
        "def f():\n    from ..cli.reproduce import PAPER\n    return PAPER\n"
    )
    (tmp_path / "models" / "zoo.py").write_text("import polypnet.inference.backends\nfrom polypnet import data\n")
    (tmp_path / "data" / "ok.py").write_text("from . import layouts\nfrom .readers import x\n")
    assert layer_violations(tmp_path) == [
        "experiments/report.py:2 experiments -> cli",
        "models/zoo.py:1 models -> inference",
        "models/zoo.py:2 models -> data",
    ]
