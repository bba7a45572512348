"""Files a careless or hostile user can put in a photo folder (decompression bombs by header and by real data, a
JPEG claiming 65500x65500, a 100000x1 strip, a sparse 1 GB junk .jpg, empty, text, forged and non-UTF-8 names), for
the tests and bench/hostile_files.py."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def _png(width: int, height: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG from its header fields and compressed pixel data, written chunk by chunk (no decoder involved)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header claims `width` x `height` (a classic decompression bomb)."""
    import zlib

    return _png(width, height, 2, zlib.compress(b"\0" * 64))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is rewritten to claim `width` x `height`."""
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 7] = height.to_bytes(2, "big")
    data[sof + 7:sof + 9] = width.to_bytes(2, "big")
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    """A 54-byte BMP header claiming `width` x `height` 24-bit pixels, with no pixels behind it."""
    import struct

    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0,
                                                                     2835, 2835, 0, 0)


def real_png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of `width` x `height` zeros: small on disk, huge decoded."""
    import zlib

    compressor = zlib.compressobj(6)
    row = b"\0" * (width + 1)
    return _png(width, height, 0, b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush())


def write_hostile_corpus(folder: Path) -> dict[str, str]:
    """Files a careless or hostile user can put in a photo folder, with a pattern of the reason each must be
    reported with. None of them may cost more memory than an ordinary photo."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    expected = {}

    def put(name: str, data: bytes, reason: str) -> None:
        (folder / name).write_bytes(data)
        expected[str(folder / name)] = reason

    put("png-claims-100000x100000.png", png_claiming(100_000, 100_000), "decompression bomb")
    put("png-20000x20000-zeros.png", real_png_bomb(20_000, 20_000), "decompression bomb")
    put("jpeg-claims-65500x65500.jpg", jpeg_claiming(65_500, 65_500), "decompression bomb")
    put("jpeg-claims-12000x12000.jpg", jpeg_claiming(12_000, 12_000), "decompression bomb")
    put("bmp-claims-60000x60000.bmp", bmp_claiming(60_000, 60_000), "decompression bomb")
    put("strip-100000x1.png", png_claiming(100_000, 1), "extreme aspect ratio")
    put("empty.jpg", b"", "empty file")
    put("text.png", b"hello, not an image\n", "not an image")
    junk = folder / "junk-1GB.jpg"
    with open(junk, "wb") as out:
        out.truncate(1 << 30)  # sparse: a gigabyte that takes no disk
    expected[str(junk)] = "file too large for JPEG"
    forged = "forged\tname\nwith a newline.jpg"
    put(forged, b"\xff\xd8\xff\xe0 not really", "corrupt|truncated|not an image")
    put(os.fsdecode(b"latin1-caf\xe9.png"), b"not a png either", "not an image")
    return expected
