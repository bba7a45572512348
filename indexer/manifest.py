"""The library's manifest: what Qdrant would otherwise keep as collection metadata (schema, model, roots).

Written atomically (temp file, fsync, rename), so a crash leaves either the old or the new manifest, never half.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .errors import PixceptError

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


class ManifestError(PixceptError):
    pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_manifest(data_dir: Path) -> dict:
    path = Path(data_dir) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ManifestError(f"The manifest {path} cannot be read ({exc}). Restore it from a backup, or move it "
                            "away and run `pixcept index --reindex` to rebuild the library.") from exc
    version = manifest.get("schema_version", 0)
    if version > SCHEMA_VERSION:
        raise ManifestError(f"The library at {data_dir} was written by a newer pixcept (schema {version}); "
                            f"this one understands schema {SCHEMA_VERSION}. Upgrade pixcept.")
    return manifest


def write_manifest(data_dir: Path, manifest: dict) -> dict:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest = {**manifest, "schema_version": SCHEMA_VERSION, "updated_at": _now()}
    manifest.setdefault("created_at", manifest["updated_at"])
    handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=".manifest.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(manifest, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, data_dir / MANIFEST_NAME)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _fsync_dir(data_dir)
    return manifest


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
