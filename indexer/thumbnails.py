"""Making thumbnails again: every image whose thumbnail is missing (deleted, lost with a disk, a backup restored
without them) gets it back from its original file, verified as `Library.open_original` verifies it."""

from __future__ import annotations

from PIL import Image

from .errors import NotFoundError
from .images import THUMBNAIL_SIZE, BadImage, decode_image, read_opened, thumbnail_path, write_thumbnail
from .library import Library
from .progress import Progress
from .store import IMAGES, retrieve_all


def rebuild_thumbnails(library: Library, progress: Progress | None = None) -> dict:
    """Make the missing thumbnails; {made, without_original, summary}. Images whose original is gone or changed
    keep none (their search results show no picture until `pixcept index` finds the file again)."""
    progress = progress or Progress()
    points = list(library.store.scroll(IMAGES, fields=["sha256", "files", "path"]))
    missing = [p for p in points if not thumbnail_path(library.thumbnail_dir, p.payload["sha256"]).is_file()]
    progress.start(total=len(points), done=len(points) - len(missing))
    made = gone = 0
    for point in missing:
        try:
            with library.open_original(point.payload) as original:
                decoded = decode_image(read_opened(original), min_side=THUMBNAIL_SIZE)
            write_thumbnail(decoded.image, thumbnail_path(library.thumbnail_dir, point.payload["sha256"]),
                            THUMBNAIL_SIZE, library.thumbnail_dir)
            made += 1
        except (NotFoundError, BadImage):
            gone += 1
        progress.advance(1)
    summary = f"{made:,} thumbnails made again, {len(points) - len(missing):,} were there"
    return {"made": made, "without_original": gone,
            "summary": summary + (f"; {gone:,} images have no original to make one from." if gone else ".")}


def open_thumbnails(library: Library, image_ids: list[str]) -> dict[str, Image.Image]:
    """{image ID: its thumbnail, decoded} for the images that have one (a lost thumbnail is left out)."""
    shas = {p.id: p.payload.get("sha256") for p in retrieve_all(library.store, IMAGES, image_ids)}
    pictures = {}
    for image_id, sha in shas.items():
        try:
            with Image.open(thumbnail_path(library.thumbnail_dir, sha or "")) as picture:
                pictures[image_id] = picture.convert("RGB")
        except OSError:
            continue
    return pictures
