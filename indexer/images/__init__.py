"""Image files: finding them (`walk`), what may be read (`formats`, `limits`), reading and verifying originals
(`originals`), decoding safely (`decode`), EXIF metadata (`exif`), thumbnails (`thumbnails`)."""

from .decode import DecodedImage, check_header, decode_image, to_rgb
from .exif import read_metadata, wall_clock_seconds
from .formats import IMAGE_SUFFIXES, BadImage, is_image_name
from .limits import DecodeLimits, decode_limits
from .originals import content_hash, open_verified, read_file, read_opened, read_verified, unchanged_in_place
from .thumbnails import STAGING, THUMBNAIL_SIZE, clean_staging, thumbnail_path, write_thumbnail
from .walk import FoundFile, Skipped, walk_images

__all__ = ["IMAGE_SUFFIXES", "STAGING", "THUMBNAIL_SIZE", "BadImage", "DecodeLimits", "DecodedImage", "FoundFile",
           "Skipped", "check_header", "clean_staging", "content_hash", "decode_image", "decode_limits", "is_image_name",
           "open_verified", "read_file", "read_metadata", "read_opened", "read_verified", "thumbnail_path", "to_rgb",
           "unchanged_in_place", "walk_images", "wall_clock_seconds", "write_thumbnail"]
