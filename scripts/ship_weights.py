#!/usr/bin/env python
"""Copy a recorded run's weights into the package (see polypnet/cli/ship_weights.py)."""

import sys

from polypnet.cli.ship_weights import main

if __name__ == "__main__":
    sys.exit(main())
