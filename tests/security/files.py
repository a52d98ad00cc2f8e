"""Hostile and careless inputs, made on the fly: a checkpoint that runs code when unpickled, a
truncated checkpoint, a PNG whose header promises more pixels than memory holds, a dangling link."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import torch


class CreatesMarker:
    """Unpickling this calls ``open(marker, "w")``: a file appears where code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.marker, "w"))


def malicious_state_dict(path: Path, marker: Path, state: dict[str, torch.Tensor]) -> Path:
    """``state`` (real weights) with one extra entry whose unpickling creates ``marker``."""
    torch.save({**state, "extra": CreatesMarker(marker)}, path)
    return path


def malicious_checkpoint(path: Path, marker: Path, checkpoint: dict[str, Any]) -> Path:
    """A Lightning checkpoint whose hyper-parameters hold an object that creates ``marker``."""
    bad = dict(checkpoint)
    bad["hyper_parameters"] = {**checkpoint.get("hyper_parameters", {}), "note": CreatesMarker(marker)}
    torch.save(bad, path)
    return path


def truncated_copy(source: Path, path: Path) -> Path:
    """The first half of ``source``'s bytes: a download cut short."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(path: Path, width: int, height: int) -> Path:
    """A valid, black RGB PNG of ``width`` x ``height`` that is small on disk (20000 x 20000: about
    1.2 MB, 1.2 GB once decoded), written without ever holding the pixels in memory."""
    row = b"\x00" * (1 + 3 * width)  # filter byte + RGB
    rows_per_block = max(1, min(height, (4 << 20) // len(row)))
    block = row * rows_per_block
    # After a full flush deflate forgets its history, so every further block compresses to the
    # same bytes: compress two, repeat the second. The Adler-32 of the stream is computed apart.
    comp = zlib.compressobj(9)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    repeat = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    blocks, rest = divmod(height, rows_per_block)
    tail_rows = row * rest
    # The tail: a fresh compressor's raw deflate of the leftover rows (final block).
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = raw.compress(tail_rows) + raw.flush(zlib.Z_FINISH)
    adler = 1
    for _ in range(blocks):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(tail_rows, adler)
    stream = first + repeat * (blocks - 1) + tail + struct.pack(">I", adler & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b""))
    return path
