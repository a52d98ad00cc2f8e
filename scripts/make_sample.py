"""Build the bundled Kvasir-SEG sample: 16 official-train pairs, longest side 320 px.

    python scripts/make_sample.py ../shared/data/kvasir-seg

Writes ``src/polypnet/data/resources/sample/kvasir-seg/{images,masks}`` (JPEG q90 images,
binarised PNG masks) and the NOTICE. The pairs are the first 16 official train stems in
sha256 order (seed "sample"), skipping the dataset's three near-duplicate pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from polypnet.data.readers import read_image, read_mask
from polypnet.data.shipped import kvasir_official, sample_root

N = 16
LONGEST_SIDE = 320
NEAR_DUPLICATES = {
    "cju30bmab08bi0835mvlr6e0r", "cju77k828z46w0871r0avuoo9",
    "cju76lsehyia10987u54vn8rb", "cju772304yw5t0818vbw8kkjf",
    "cju886ryxnsl50801r93jai7q", "cju8amfdtqi4x09871tygrgqe",
}  # fmt: skip

NOTICE = """\
Bundled sample: 16 image/mask pairs of Kvasir-SEG, downscaled (longest side 320 px; images
re-encoded as JPEG quality 90, masks thresholded at > 127 and stored as 0/255 PNG).

Source: Kvasir-SEG (https://datasets.simula.no/kvasir-seg/). The same 1000 images and masks are
published in HyperKvasir under the Creative Commons Attribution 4.0 International licence
(CC BY 4.0, https://creativecommons.org/licenses/by/4.0/). Changes: downscaled, re-encoded,
masks binarised.

Cite:
  Debesh Jha, Pia H. Smedsrud, Michael A. Riegler, Pål Halvorsen, Thomas de Lange, Dag Johansen,
  Håvard D. Johansen. "Kvasir-SEG: A Segmented Polyp Dataset". MultiMedia Modeling (MMM 2020),
  LNCS 11962, pp. 451-462, Springer, 2020. https://doi.org/10.1007/978-3-030-37734-2_37
  Hanna Borgli, Vajira Thambawita, Pia H. Smedsrud, et al. "HyperKvasir, a comprehensive multi-class
  image and video dataset for gastrointestinal endoscopy". Scientific Data 7, 283 (2020).
  https://doi.org/10.1038/s41597-020-00622-y

For research and education; not for clinical use.
"""


def pick(n: int = N) -> list[str]:
    stems = [s for s in kvasir_official()["train"] if s not in NEAR_DUPLICATES]
    return sorted(stems, key=lambda s: hashlib.sha256(f"sample:{s}".encode()).hexdigest())[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kvasir_root", type=Path, help="the full Kvasir-SEG folder (images/, masks/)")
    parser.add_argument("--out", type=Path, default=sample_root())
    args = parser.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "images").mkdir(parents=True)
    (args.out / "masks").mkdir()
    for stem in pick():
        image = read_image(args.kvasir_root / "images" / f"{stem}.jpg")
        mask = read_mask(args.kvasir_root / "masks" / f"{stem}.jpg")
        h, w = image.shape[:2]
        scale = LONGEST_SIDE / max(h, w)
        size = (round(w * scale), round(h * scale))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        # Area-average the 0/1 mask, then threshold at one half: smooth edges, still binary.
        small_mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
        jpeg, png = [cv2.IMWRITE_JPEG_QUALITY, 90], [cv2.IMWRITE_PNG_COMPRESSION, 9]
        cv2.imwrite(str(args.out / "images" / f"{stem}.jpg"), small[..., ::-1], jpeg)
        cv2.imwrite(str(args.out / "masks" / f"{stem}.png"), small_mask.astype(np.uint8) * 255, png)
    (args.out / "NOTICE").write_text(NOTICE)
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote {N} pairs to {args.out} ({total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
