"""What pixcept agrees to read and decode, judged from a file's size and an image's header before any pixel."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from PIL import Image

from ..config import ImageLimits
from .formats import FILE_LIMITS_MB, MB, SUFFIX_FORMATS


@dataclass(frozen=True)
class DecodeLimits:
    """What pixcept agrees to decode. Judged from the file size and the image header, before any pixel is decoded:
    a 600-byte PNG can claim 100000 x 100000 pixels (40 GB decoded)."""

    max_pixels: int = int(ImageLimits.max_megapixels * 1e6)
    max_aspect: float = ImageLimits.max_aspect
    file_limits_mb: dict = field(default_factory=lambda: dict(FILE_LIMITS_MB))

    @classmethod
    def from_settings(cls, limits: ImageLimits) -> "DecodeLimits":
        """The settings' limits (`limits.*`: PIXCEPT_MAX_MEGAPIXELS, PIXCEPT_MAX_ASPECT, PIXCEPT_MAX_FILE_MB)."""
        file_mb = limits.max_file_mb
        return cls(max_pixels=int(limits.max_megapixels * 1e6), max_aspect=limits.max_aspect,
                   file_limits_mb={k: file_mb for k in FILE_LIMITS_MB} if file_mb else dict(FILE_LIMITS_MB))

    def file_limit(self, path: str) -> int:
        """Bytes a file of this name may have (the largest limit for an unknown suffix)."""
        fmt = SUFFIX_FORMATS.get(os.path.splitext(path)[1].lower())
        return int(self.file_limits_mb.get(fmt, max(self.file_limits_mb.values())) * MB)


_current = DecodeLimits()


def configure(limits: ImageLimits) -> DecodeLimits:
    """Make the settings' limits this process's own (`Library.open` does, with its settings). Process-wide like
    Pillow's own bomb guard, which stays on as a second line: it raises at twice the pixel limit, inside
    `Image.open`, before pixcept's check would run."""
    global _current
    _current = DecodeLimits.from_settings(limits)
    Image.MAX_IMAGE_PIXELS = _current.max_pixels
    return _current


def decode_limits() -> DecodeLimits:
    """The limits this process decodes with."""
    return _current


Image.MAX_IMAGE_PIXELS = DecodeLimits.max_pixels
