"""Check a polyp dataset folder; exits non-zero when there is a problem.

    python scripts/check_data.py ROOT [--headers-only]

Logic: ``polypnet.data.check``.
"""

import sys

from polypnet.data.check import main

if __name__ == "__main__":
    sys.exit(main())
