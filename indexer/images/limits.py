"""What pixcept agrees to read and decode, judged from a file's size and an image's header before any pixel."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

from PIL import Image

from ..errors import UsageError
from .formats import FILE_LIMITS_MB, MB, SUFFIX_FORMATS


@dataclass(frozen=True)
class DecodeLimits:
    """What pixcept agrees to decode. Judged from the file size and the image header, before any pixel is decoded:
    a 600-byte PNG can claim 100000 x 100000 pixels (40 GB decoded)."""

    max_pixels: int = 120_000_000  # a 100 MP medium-format camera passes
    max_aspect: float = 50.0  # a long screenshot passes; a 100000 x 1 strip would make CLIP's resize gigabytes
    file_limits_mb: dict = field(default_factory=lambda: dict(FILE_LIMITS_MB))

    @classmethod
    def from_env(cls) -> "DecodeLimits":
        """PIXCEPT_MAX_MEGAPIXELS, PIXCEPT_MAX_ASPECT and PIXCEPT_MAX_FILE_MB (one limit for every format)."""
        limits = cls()
        pixels = _env_number("PIXCEPT_MAX_MEGAPIXELS")
        aspect = _env_number("PIXCEPT_MAX_ASPECT")
        file_mb = _env_number("PIXCEPT_MAX_FILE_MB")
        return cls(max_pixels=int(pixels * 1e6) if pixels else limits.max_pixels,
                   max_aspect=aspect or limits.max_aspect,
                   file_limits_mb={k: file_mb for k in FILE_LIMITS_MB} if file_mb else limits.file_limits_mb)

    def file_limit(self, path: str) -> int:
        """Bytes a file of this name may have (the largest limit for an unknown suffix)."""
        fmt = SUFFIX_FORMATS.get(os.path.splitext(path)[1].lower())
        return int(self.file_limits_mb.get(fmt, max(self.file_limits_mb.values())) * MB)


def _env_number(name: str) -> float | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = 0
    if not number > 0:
        raise UsageError(f"{name} must be a positive number, not {value!r}.")
    return number


@functools.cache
def decode_limits() -> DecodeLimits:
    """The limits from the environment, read once. Pillow's own bomb guard stays on as a second line: it raises at
    twice the pixel limit, inside `Image.open`, before pixcept's check would run."""
    limits = DecodeLimits.from_env()
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    return limits


Image.MAX_IMAGE_PIXELS = DecodeLimits.max_pixels
