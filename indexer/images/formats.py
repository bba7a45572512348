"""Which files are images, by name, and which formats pixcept reads (HEIC/HEIF through pi-heif)."""

from __future__ import annotations

import os

from PIL import ImageFile, features

try:  # HEIC/HEIF through the permissively licensed pi-heif
    from pi_heif import register_heif_opener

    register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - pi-heif is a dependency, but the rest works without it
    HEIF = False

ImageFile.LOAD_TRUNCATED_IMAGES = False

MB = 1024 * 1024
# Largest file read per format, before anything is decoded: what a real photo of the pixel limit needs, with room.
FILE_LIMITS_MB = {
    "JPEG": 150, "MPO": 150, "WEBP": 100, "HEIF": 100, "AVIF": 100, "GIF": 200,
    "PNG": 512, "BMP": 512, "TIFF": 1024,
}
SUFFIX_FORMATS = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".mpo": "MPO", ".png": "PNG", ".webp": "WEBP",
    ".gif": "GIF", ".bmp": "BMP", ".dib": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".heic": "HEIF", ".heif": "HEIF",
    ".hif": "HEIF", ".avif": "AVIF",
}

IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".mpo",
}
if HEIF:
    IMAGE_SUFFIXES |= {".heic", ".heif", ".hif"}
if features.check("avif"):
    IMAGE_SUFFIXES |= {".avif"}


class BadImage(Exception):
    """A file that cannot be indexed; the message is the reason shown to the user. `lasting`: the content is at
    fault, so the file fails again until it changes (not so for a file that could not be opened)."""

    def __init__(self, reason: str, lasting: bool = True):
        super().__init__(reason)
        self.lasting = lasting



def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES

