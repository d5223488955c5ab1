"""Valid PNG files of an exact size, distinct per seed (so distinct sha256)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from django_wxpay_media.sandbox.images import png_chunk

MIB = 1024 * 1024
#: The largest image the upload API takes (2 MiB): the per-upload figures use this size.
FULL_SIZE = 2 * MIB


def png(seed: int, size: int) -> bytes:
    """A 1×1 PNG padded to exactly ``size`` bytes with a private chunk that holds ``seed``."""
    head = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    body = png_chunk(b"IDAT", zlib.compress(b"\x00" + bytes([seed % 256, 0, 0])))
    tail = png_chunk(b"IEND", b"")
    pad = size - len(head) - len(body) - len(tail) - 12
    if pad < 8:
        raise ValueError(f"size {size} is too small for a padded PNG")
    filler = seed.to_bytes(8, "big") + bytes(pad - 8)
    return head + png_chunk(b"prVt", filler) + body + tail


def write_pngs(directory: Path, count: int, size: int, *, first_seed: int = 0, prefix: str = "img") -> list[Path]:
    """``count`` distinct PNG files of ``size`` bytes in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(first_seed, first_seed + count):
        path = directory / f"{prefix}{seed:05d}.png"
        path.write_bytes(png(seed, size))
        paths.append(path)
    return paths
