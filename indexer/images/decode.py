"""Decoding an image safely: every way a file can be bad becomes a `BadImage` with a reason a person can read."""

from __future__ import annotations

import contextlib
import io
import math
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from .exif import read_metadata
from .formats import MB, BadImage
from .limits import DecodeLimits, decode_limits

# Decodes estimated above this many bytes run one at a time, so decoding threads never hold two big images at once.
LARGE_DECODE_BYTES = 64 * MB
_large_decode = threading.Semaphore(1)


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied, reduced by draft decoding where possible
    width: int  # original pixel size, after orientation
    height: int
    format: str
    metadata: dict = field(default_factory=dict)



def decode_image(data: bytes, min_side: int, limits: DecodeLimits | None = None) -> DecodedImage:
    """Decode bytes into an RGB image whose shorter side is about `min_side` or more (JPEG draft decoding).

    The header is judged before anything else reads pixels (EXIF of a PNG can load the whole image)."""
    if not data:
        raise BadImage("empty file (0 bytes)")
    limits = limits or decode_limits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns on odd EXIF; the image is still fine
        try:
            image: Image.Image = Image.open(io.BytesIO(data))
            fmt = image.format or "unknown"
            check_header(image, limits)
            width, height = image.size  # as declared; a JPEG's size shrinks with `draft`
            if image.format in ("JPEG", "MPO"):
                image.draft("RGB", (min_side, min_side))
            with _decode_slot(image, width * height):
                metadata = read_metadata(image)
                image.load()
                if metadata.get("orientation", 1) != 1:
                    image = ImageOps.exif_transpose(image)  # before any conversion, which may drop the EXIF
                image = to_rgb(image)
        except BadImage:
            raise
        except Image.DecompressionBombError as exc:
            raise BadImage(f"decompression bomb: {exc}") from exc
        except Image.UnidentifiedImageError as exc:
            raise BadImage("not an image (format not recognised)") from exc
        except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, IndexError,
                ZeroDivisionError, MemoryError) as exc:
            raise BadImage(_decode_reason(exc)) from exc
    if metadata.get("orientation") in (5, 6, 7, 8):
        width, height = height, width
    return DecodedImage(image, width, height, fmt, metadata)


def check_header(image: Image.Image, limits: DecodeLimits) -> None:
    """Refuse what the header declares before any pixel is decoded: too many pixels, an absurd aspect ratio."""
    width, height = image.size
    if width < 1 or height < 1:
        raise BadImage(f"corrupt image header ({width}x{height} pixels)")
    if width * height > limits.max_pixels:
        raise BadImage(
            f"decompression bomb: the header declares {width}x{height} = {width * height / 1e6:,.0f} megapixels "
            f"(limit {limits.max_pixels / 1e6:,.0f}; PIXCEPT_MAX_MEGAPIXELS raises it)")
    if max(width, height) / min(width, height) > limits.max_aspect:
        raise BadImage(f"extreme aspect ratio: {width}x{height} (limit {limits.max_aspect:g}:1; "
                       "PIXCEPT_MAX_ASPECT raises it)")


@contextlib.contextmanager
def _decode_slot(image: Image.Image, header_pixels: int):
    """Big decodes one at a time: a progressive JPEG keeps every DCT coefficient (3 bytes a pixel of the header
    size, whatever the draft scale: 300 MB at 100 MP, measured); other formats decode whole (4 bytes a pixel)."""
    if image.format in ("JPEG", "MPO"):
        estimate = math.prod(image.size) * 4 + (header_pixels * 3 if image.info.get("progressive") else 0)
    else:
        estimate = header_pixels * 4
    if estimate < LARGE_DECODE_BYTES:
        yield
        return
    with _large_decode:
        yield


def _decode_reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower():
        return "truncated image file"
    if isinstance(exc, MemoryError):
        return "too large to decode in memory"
    return f"corrupt image data ({text})"


def to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow clips 16/32-bit values to 255 on convert("L"); scale the real range down instead.
        array = np.asarray(image, dtype=np.float32)  # 4 bytes a pixel, not 8
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent areas become white, as a viewer shows them, instead of whatever colour hides under alpha 0.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")

