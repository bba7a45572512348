"""Finding image files under the user's folders and decoding them safely.

Decoding is defensive: every way a file can be bad becomes a `BadImage` with a reason a person can read.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import os
import stat
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np
from PIL import Image, ImageFile, ImageOps, features

from .durable import atomic_write
from .errors import UsageError

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
# Decodes estimated above this many bytes run one at a time, so decoding threads never hold two big images at once.
LARGE_DECODE_BYTES = 64 * MB
_large_decode = threading.Semaphore(1)


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


# -- walking -----------------------------------------------------------------------------------------------------------

def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def walk_images(roots: list[Path], exclude: Sequence[Path] = ()) -> Iterator[FoundFile | Skipped]:
    """Every image file under the roots, in a stable order. Hidden files and folders are passed over, and so are
    the `exclude` folders (the library's own data folder: its thumbnails are not photos, its secrets not images).

    Folder symlinks are not followed; a file symlink is indexed only when its target lies inside one of the roots.
    A folder that cannot be read (permissions, a path longer than the system allows) is reported, not passed over.
    """
    resolved_roots = [str(Path(root).resolve()) for root in roots]
    excluded = [str(Path(folder).resolve()) for folder in exclude]
    for root in resolved_roots:
        errors: list[OSError] = []
        for folder, dirs, files in os.walk(root, onerror=errors.append, followlinks=False):
            yield from _walk_errors(errors)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                             and not _inside(os.path.join(folder, d), excluded))
            for name in sorted(files):
                if not is_image_name(name):
                    continue
                path = os.path.join(folder, name)
                yield _stat_file(path, resolved_roots)
        yield from _walk_errors(errors)


def _walk_errors(errors: list[OSError]) -> Iterator[Skipped]:
    for error in errors:
        yield Skipped(str(error.filename), f"folder not readable: {error.strerror or error}")
    errors.clear()


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


def read_file(path: str, limits: DecodeLimits | None = None) -> bytes:
    """The file's bytes, refusing (without reading it) a file larger than a photo of its format can be."""
    try:
        with open(path, "rb") as handle:
            return read_opened(handle, limits)
    except OSError as exc:
        raise BadImage(f"unreadable: {exc.strerror or exc}", lasting=False) from exc


def read_opened(handle: BinaryIO, limits: DecodeLimits | None = None) -> bytes:
    """The rest of an open file, refusing (without reading it) more than a photo of its format can be."""
    limit = (limits or decode_limits()).file_limit(handle.name)
    size = os.fstat(handle.fileno()).st_size
    if size > limit:
        raise BadImage(_too_large(handle.name, size, limit))
    data = handle.read(limit + 1)  # the file may have grown since
    if len(data) > limit:
        raise BadImage(_too_large(handle.name, len(data), limit))
    return data


def _too_large(path: str, size: int, limit: int) -> str:
    kind = SUFFIX_FORMATS.get(os.path.splitext(path)[1].lower(), "an image")
    return (f"file too large for {kind}: {size / MB:,.0f} MB (limit {limit / MB:,.0f} MB; PIXCEPT_MAX_FILE_MB "
            "raises it)")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unchanged_in_place(path: str, size: int, mtime: float, inside: list[str], outside: list[str]) -> bool:
    """A cheap check that `path` still is the file that was indexed: after resolving symlinks a regular image file
    inside one of the `inside` folders and in none of the `outside` ones, with the indexed size and mtime. Enough to
    serve what was made from it before (a cached preview); `open_verified` hashes before handing out the file."""
    real = os.path.realpath(path)
    if not _inside(real, inside) or _inside(real, outside) or not is_image_name(os.path.basename(real)):
        return False
    try:
        found = os.stat(real)
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_size == size and abs(found.st_mtime - mtime) < 1e-6


def open_verified(path: str, sha256: str, inside: list[str], outside: list[str]) -> BinaryIO | None:
    """`path` opened for reading if it still is the indexed image, else None: after resolving symlinks a regular
    image file inside one of the `inside` folders and in none of the `outside` ones, holding exactly the bytes
    whose hash was indexed. The hash is what makes it safe: whatever a path was swapped for (a symlink to a
    secret, another file), only the indexed content is ever handed out."""
    real = os.path.realpath(path)
    if not _inside(real, inside) or _inside(real, outside) or not is_image_name(os.path.basename(real)):
        return None
    try:
        handle = open(real, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError("not a regular file")
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        if digest.hexdigest() != sha256:
            raise OSError("changed since it was indexed")
        handle.seek(0)
        return handle
    except OSError:
        handle.close()
        return None


# -- decoding ----------------------------------------------------------------------------------------------------------

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


# -- metadata ----------------------------------------------------------------------------------------------------------

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_MAKE, _MODEL = 0x010F, 0x0110
_DATETIME, _DATETIME_ORIGINAL, _OFFSET_ORIGINAL = 0x0132, 0x9003, 0x9011


def read_metadata(image: Image.Image) -> dict:
    """EXIF facts for payload filters: taken_at (ISO), taken_ts (`wall_clock_seconds`), camera, gps, orientation."""
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
            out["taken_at"] = taken.isoformat()  # with its UTC offset only where the camera recorded one
            out["taken_ts"] = wall_clock_seconds(taken)
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
    return taken  # no zone recorded: the camera's clock, zone unknown


def wall_clock_seconds(taken: datetime) -> float:
    """Seconds of the time on the photo's own clock, counted as if it were UTC: a photo taken at 23:30 in Tokyo
    falls on the day it shows, whatever zone the library or its reader is in (filters by day compare these)."""
    return taken.replace(tzinfo=timezone.utc).timestamp()


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


# -- thumbnails --------------------------------------------------------------------------------------------------------

def thumbnail_path(thumbnail_dir: Path, sha256: str) -> Path:
    """Thumbnails are named by content hash in two levels of folders, so no folder grows past a few thousand."""
    return thumbnail_dir / sha256[:2] / sha256[2:4] / f"{sha256}.jpg"


STAGING = ".incoming"  # temporary files, below each thumbnail folder, renamed into place when whole
STALE_STAGING_SECONDS = 3600


def write_thumbnail(image: Image.Image, target: Path, size: int, root: Path) -> None:
    """Write a JPEG thumbnail of `image` to `target` (below `root`) atomically: it is written into `root`'s staging
    folder and renamed into place, so readers never see half a file and a killed writer leaves its rest in one
    place (`clean_staging`)."""
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    # made again from the original if lost, so not flushed to disk one by one (that would slow indexing)
    atomic_write(target, lambda out: thumb.save(out, "JPEG", quality=85), staging=Path(root) / STAGING,
                 durable=False)


def clean_staging(root: Path, older_than: float = STALE_STAGING_SECONDS) -> int:
    """Remove what killed writers left in `root`'s staging folder (files older than `older_than` seconds, so a
    writer at work in another process keeps its file). Returns how many were removed."""
    staging = Path(root) / STAGING
    cutoff = time.time() - older_than
    removed = 0
    for path in staging.glob("*.tmp") if staging.is_dir() else ():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed
