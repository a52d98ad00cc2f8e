"""Download or import Kvasir-SEG / CVC-ClinicDB, extract, verify against the shipped sha256 manifest.

    python scripts/prepare_data.py kvasir-seg [--dest DIR]
    python scripts/prepare_data.py cvc-clinicdb --from-archive CVC-ClinicDB.zip

Logic: ``polypnet.data.prepare`` (``--help`` lists every option).
"""

import sys

from polypnet.data.prepare import main

if __name__ == "__main__":
    sys.exit(main())
