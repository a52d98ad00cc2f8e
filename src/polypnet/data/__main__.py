"""``python -m polypnet.data check ROOT`` / ``... prepare DATASET ...`` / ``... pack SOURCE ...``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"check": "polypnet.data.check", "prepare": "polypnet.data.prepare", "pack": "polypnet.data.pack"}
    if not argv or argv[0] not in commands:
        print("usage: python -m polypnet.data {check,prepare,pack} ...  (--help after the command)")
        return 2
    import importlib

    return importlib.import_module(commands[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
