"""Where settings come from: command-line flags first, then environment variables, then defaults."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    """The per-user data folder, following each platform's convention."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "pixcept"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "pixcept"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "pixcept"


@dataclass(frozen=True)
class CollectionOptions:
    """Collection settings that only a Qdrant server honours (local mode accepts and drops them)."""

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    on_disk: bool = False
    quantization: str | None = None  # None or "int8"
    hnsw_m: int | None = None
    hnsw_ef_construct: int | None = None


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    model: str | None = None  # None: the library's recorded model, or the default for a new library
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    collection_prefix: str = "pixcept"
    collection_options: CollectionOptions = field(default_factory=CollectionOptions)
    device: str | None = None
    store: str | None = None  # embedded backend for a new library: "edge" (default) or "local"

    @property
    def uses_server(self) -> bool:
        return bool(self.qdrant_url)
