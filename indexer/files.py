"""Finding image files under the user's folders and decoding them safely.

Decoding is defensive: every way a file can be bad becomes a `BadImage` with a reason a person can read.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageFile, ImageOps, features

try:  # HEIC/HEIF through the permissively licensed pi-heif
    from pi_heif import register_heif_opener

    register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - pi-heif is a dependency, but the rest works without it
    HEIF = False

# Pillow's own bomb check runs on the header size, before draft decoding, and would reject real panoramas that
# decode to a few megapixels. We judge by the decoded size instead (`MAX_DECODED_PIXELS`).
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

MAX_DECODED_PIXELS = 120_000_000

IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".mpo",
}
if HEIF:
    IMAGE_SUFFIXES |= {".heic", ".heif", ".hif"}
if features.check("avif"):
    IMAGE_SUFFIXES |= {".avif"}


class BadImage(Exception):
    """A file that cannot be indexed; the message is the reason shown to the user."""


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    failure: bool = True  # False for files passed over on purpose (symlinks out of the folders)


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied, reduced by draft decoding where possible
    width: int  # original pixel size, after orientation
    height: int
    format: str
    metadata: dict = field(default_factory=dict)


# -- walking ------------------------------------------------------------------------------------------------------------

def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def walk_images(roots: list[Path]) -> Iterator[FoundFile | Skipped]:
    """Every image file under the roots, in a stable order. Hidden files and folders are passed over.

    Folder symlinks are not followed; a file symlink is indexed only when its target lies inside one of the roots.
    """
    resolved_roots = [str(Path(root).resolve()) for root in roots]
    for root in resolved_roots:
        for folder, dirs, files in os.walk(root, onerror=None, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not is_image_name(name):
                    continue
                path = os.path.join(folder, name)
                yield _stat_file(path, resolved_roots)


def _stat_file(path: str, roots: list[str]) -> FoundFile | Skipped:
    try:
        if os.path.islink(path):
            target = os.path.realpath(path, strict=True)
            if not _inside(target, roots):
                return Skipped(path, "symlink points outside the indexed folders (not followed)", failure=False)
        info = os.stat(path)
    except RuntimeError:
        return Skipped(path, "symlink loop")
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return Skipped(path, "symlink loop")
        return Skipped(path, f"unreadable: {exc.strerror or exc}")
    if not os.path.isfile(path):
        return Skipped(path, "not a regular file")
    return FoundFile(path, info.st_size, info.st_mtime)


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BadImage(f"unreadable: {exc.strerror or exc}") from exc


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- decoding -----------------------------------------------------------------------------------------------------------

def decode_image(data: bytes, min_side: int) -> DecodedImage:
    """Decode bytes into an RGB image whose shorter side is about `min_side` or more (JPEG draft decoding)."""
    if not data:
        raise BadImage("empty file (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns on odd EXIF; the image is still fine
        try:
            image = Image.open(io.BytesIO(data))
            fmt = image.format or "unknown"
            metadata = read_metadata(image)
            width, height = image.size
            if image.format in ("JPEG", "MPO"):
                image.draft("RGB", (min_side, min_side))
            _check_bomb(image)
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


def _check_bomb(image: Image.Image) -> None:
    width, height = image.size  # after draft, this is the size that will really be decoded
    if width * height > MAX_DECODED_PIXELS:
        raise BadImage(
            f"decompression bomb: would decode {width}x{height} = {width * height / 1e6:.0f} megapixels "
            f"(limit {MAX_DECODED_PIXELS / 1e6:.0f})")


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
        array = np.asarray(image, dtype=np.float64)
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


# -- metadata -----------------------------------------------------------------------------------------------------------

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_MAKE, _MODEL = 0x010F, 0x0110
_DATETIME, _DATETIME_ORIGINAL, _OFFSET_ORIGINAL = 0x0132, 0x9003, 0x9011


def read_metadata(image: Image.Image) -> dict:
    """EXIF facts for payload filters: taken_at (ISO), taken_ts (epoch s), camera, gps, orientation."""
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - broken EXIF must not cost the image
        return {}
    if not exif:
        return {}
    out: dict = {}
    try:
        orientation = int(exif.get(_ORIENTATION, 1))
        if 1 <= orientation <= 8:
            out["orientation"] = orientation
        details = exif.get_ifd(_EXIF_IFD)
        taken = _parse_exif_date(details.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME),
                                 details.get(_OFFSET_ORIGINAL))
        if taken is not None:
            out["taken_at"] = taken.isoformat()
            out["taken_ts"] = taken.timestamp()
        camera = " ".join(_clean(exif.get(tag)) for tag in (_MAKE, _MODEL) if _clean(exif.get(tag)))
        if camera:
            out["camera"] = camera
        gps = _parse_gps(exif.get_ifd(_GPS_IFD))
        if gps:
            out["gps"] = gps
    except Exception:  # noqa: BLE001 - partial metadata is better than none
        pass
    return out


def _clean(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    return str(value).strip("\x00 ").strip() if value else ""


def _parse_exif_date(value, offset=None) -> datetime | None:
    text = _clean(value)
    if not text:
        return None
    try:
        taken = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset_text = _clean(offset)
    if offset_text:
        try:
            return datetime.strptime(text[:19] + offset_text, "%Y:%m:%d %H:%M:%S%z")
        except ValueError:
            pass
    return taken.replace(tzinfo=timezone.utc)  # no zone recorded: keep wall-clock time, stated as UTC


def _parse_gps(gps: dict) -> dict | None:
    try:
        lat = _dms(gps[2]) * (-1 if _clean(gps.get(1)).upper() == "S" else 1)
        lon = _dms(gps[4]) * (-1 if _clean(gps.get(3)).upper() == "W" else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return {"lat": round(lat, 7), "lon": round(lon, 7)}


def _dms(values) -> float:
    degrees, minutes, seconds = (float(v) for v in values)
    return degrees + minutes / 60 + seconds / 3600


# -- thumbnails ---------------------------------------------------------------------------------------------------------

def thumbnail_path(thumbnail_dir: Path, sha256: str) -> Path:
    """Thumbnails are named by content hash in two levels of folders, so no folder grows past a few thousand."""
    return thumbnail_dir / sha256[:2] / sha256[2:4] / f"{sha256}.jpg"


def write_thumbnail(image: Image.Image, target: Path, size: int) -> None:
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            thumb.save(out, "JPEG", quality=85)
        os.replace(temporary, target)  # readers never see half a file
    except BaseException:
        os.unlink(temporary)
        raise
