"""What pixcept keeps in Qdrant, whatever the backend: collections and their generations, payload fields and
indexes, point IDs, and the path part of an image's payload."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from ..paths import display_path, exact_path, path_entry

IMAGES = "images"
VOCABULARY = "vocabulary"
CONCEPTS = "concepts"  # one point per concept and published run (indexer/concepts/publish.py)
COLLECTIONS = (IMAGES, VOCABULARY, CONCEPTS)  # what a library's generation consists of
# What people made, kept across generations (a reindex to a new model keeps it): image IDs are content hashes.
# Points carry a one-number placeholder vector (a Qdrant collection has vectors); they are found by payload.
SELECTIONS = "selections"
EXPORT_TOKENS = "export_tokens"  # the links that let a labelling tool fetch the images of one export
ACCOUNTS = "accounts"  # named tokens with roles
KEPT_COLLECTIONS = {SELECTIONS: 1, EXPORT_TOKENS: 1, ACCOUNTS: 1}  # name -> its vector size
# A server's library only: what the machines serving it share besides the collections (indexer/shared.py). Not
# kept by backups or migrations: it restates what a data folder's manifest and concept runs hold.
STATE = "state"
# Collections whose points are found by ID and payload only: name -> the size of their placeholder vector
PAYLOAD_ONLY = {**KEPT_COLLECTIONS, STATE: 1}

# Payload fields that search filters on, with their Qdrant index types (built by a server and by Edge; local mode
# has none).
PAYLOAD_INDEXES = {
    IMAGES: {
        "sha256": "keyword",
        "paths": "keyword",
        "folders": "keyword",
        "taken_ts": "float",
        "camera": "keyword",
        "format": "keyword",
        "gps": "geo",
        # an image's concept in the two publication slots (indexer/concepts/publish.py)
        "concept_a": "integer",
        "concept_b": "integer",
    },
    VOCABULARY: {"source": "keyword"},
    CONCEPTS: {"run": "integer", "concept": "integer"},
    SELECTIONS: {"kind": "keyword", "selection": "keyword", "state": "keyword", "image": "keyword"},
    EXPORT_TOKENS: {"kind": "keyword", "token": "keyword"},
    ACCOUNTS: {"kind": "keyword"},
    STATE: {"kind": "keyword", "folder": "keyword"},
}

_GENERATION = re.compile(r"(?P<base>[a-z]+)(?:_g(?P<generation>[0-9]+))?")


def generation_name(name: str, generation: int) -> str:
    """The stored name of collection `name` in a generation: generation 0 is the plain name (libraries made before
    generations existed), later ones are suffixed: images, images_g1, images_g2..."""
    return name if generation == 0 else f"{name}_g{generation}"


def generation_names(generation: int) -> dict[str, str]:
    """The aliases through which a library reads one generation of its collections."""
    return {name: generation_name(name, generation) for name in COLLECTIONS}


def payload_indexes(name: str) -> dict[str, str]:
    """The payload indexes of a collection, in any generation."""
    return PAYLOAD_INDEXES.get((parse_generation(name) or (name, 0))[0], {})


def parse_generation(stored: str) -> tuple[str, int] | None:
    """("images", 2) for "images_g2"; None for a name that is not one of a library's collections."""
    match = _GENERATION.fullmatch(stored)
    if not match or match["base"] not in COLLECTIONS:
        return None
    return match["base"], int(match["generation"] or 0)


_POINT_NAMESPACE = uuid.UUID("5d3f0c1e-6a53-4a4b-9d1f-70697863657e")


def point_id(key: str) -> str:
    """Deterministic point ID for a content hash or a vocabulary entry, so re-runs never duplicate."""
    return str(uuid.uuid5(_POINT_NAMESPACE, key))


# -- image payload schema ----------------------------------------------------------------------------------------------

def files_payload(files: dict[str, dict]) -> dict:
    """The path-related payload of an image point, from {path: {"size": .., "mtime": ..}}.

    One point per content; `paths` lists every file with that content (first = `path`, shown to people) and
    `folders` every ancestor folder of those files, so a folder filter matches its subfolders too. Paths that are
    not valid UTF-8 appear in their display form there; `files` keeps their exact bytes (`indexer/paths.py`).
    """
    paths = sorted(files)
    folders: set[str] = set()
    for path in paths:
        parent = Path(path).parent
        folders.update(display_path(str(p)) for p in (parent, *parent.parents))
    return {
        "path": display_path(paths[0]) if paths else None,
        "paths": [display_path(p) for p in paths],
        "files": [{**path_entry(p), "size": files[p]["size"], "mtime": files[p]["mtime"]} for p in paths],
        "folders": sorted(folders),
    }


def indexed_files(payload: dict) -> dict[str, dict]:
    """The inverse of `files_payload`: {exact path: {"size", "mtime"}} of an image point."""
    return {exact_path(f): {"size": f["size"], "mtime": f["mtime"]} for f in payload.get("files", [])}
