#!/usr/bin/env python
"""Pack datasets into small pre-resized copies (JPEG images, 1-bit PNG masks, pack.json).

    python scripts/pack_data.py cvc-clinicdb kvasir-seg --data-dir ../shared/data --out .gpu/data

Logic: ``polypnet.data.pack`` (``--help`` lists every option).
"""

import sys

from polypnet.data.pack import main

if __name__ == "__main__":
    sys.exit(main())
