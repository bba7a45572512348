"""The library's manifest: what Qdrant would otherwise keep as collection metadata (schema, model, roots).

Written atomically (temp file, fsync, rename), so a crash leaves either the old or the new manifest, never half.
"""

from __future__ import annotations

import json
from pathlib import Path

from .clock import utc_now
from .durable import atomic_write_json
from .errors import PixceptError

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


class ManifestError(PixceptError):
    pass


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


def manifest_stamp(data_dir: Path) -> int | None:
    """When the manifest was last replaced (None: there is none): what tells a process that another changed it."""
    try:
        return (Path(data_dir) / MANIFEST_NAME).stat().st_mtime_ns
    except FileNotFoundError:
        return None


def write_manifest(data_dir: Path, manifest: dict) -> dict:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest = {**manifest, "schema_version": SCHEMA_VERSION, "updated_at": utc_now()}
    manifest.setdefault("created_at", manifest["updated_at"])
    atomic_write_json(data_dir / MANIFEST_NAME, manifest, indent=2, sort_keys=True)
    return manifest
