"""Thumbnails (and previews): where they live, written whole, and what killed writers left."""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image

from ..durable import atomic_write

THUMBNAIL_SIZE = 256  # the longer side of the thumbnails indexing makes


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

