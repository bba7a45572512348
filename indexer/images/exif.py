"""An image's EXIF metadata as payload fields: date taken (the camera's own clock), camera, GPS, orientation."""

from __future__ import annotations

from datetime import datetime, timezone

from PIL import Image

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

