"""What the machines serving one library from one Qdrant server share besides its collections.

Each machine has its own data folder (manifest, jobs, thumbnails); the library itself is in the server. So that a
recluster or a rebuild made by one machine is what every other one answers from at once, the manifest's library
entries (generation, concept runs, roots, vocabularies...) and the files of the concept runs (assignments, map
layout, montages) are kept in the server too, in the `state` collection:
- one point holds the entries, each key a JSON string, and a stamp that every write changes; a write sets only the
  keys it changes (Qdrant merges payloads), so two machines writing different entries never undo each other;
- each run's files are points of their own, a file cut into parts of FILE_PART_BYTES; a machine that lacks a run's
  folder fetches it once into its data folder (runs' files never change once written);
- the job lease: jobs change the library, so they run on one machine at a time. A machine holds the lease while it
  runs one (renewed every LEASE_SECONDS / 4; a machine that died loses it after LEASE_SECONDS). Qdrant has no
  compare-and-set: a taker writes its name, waits LEASE_SETTLE_SECONDS and reads it back, so of two machines taking
  the lease at once (their writes within the settle time) the one written last holds it and the other waits.

Embedded stores (one process owns them) have nothing to share: every function here is for a server's library.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import shutil
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .clock import utc_now
from .errors import PixceptError
from .store import STATE, Filter, Match, Store, ensure_kept_collection, kept_point, point_id

log = logging.getLogger(__name__)

ENTRIES_ID = point_id("state:manifest")
ENTRY_PREFIX = "entry:"
# what belongs to one machine's data folder, not to the library
MACHINE_KEYS = frozenset({"store", "schema_version", "created_at", "backup", "restored"})
FILE_PART_BYTES = 4 << 20  # a part's payload (base64) stays well under a server's request limit (32 MB)
FILE_FIELDS = ["folder", "path", "part", "parts"]
LEASE_ID = point_id("state:job-lease")
LEASE_SECONDS = 120.0
LEASE_SETTLE_SECONDS = 0.5


def shares(store: Store) -> bool:
    """True for a Qdrant server's library: other machines may serve it too."""
    return store.kind == "server"


def library_entries(manifest: dict) -> dict:
    """The manifest's entries that belong to the library, not to the machine."""
    return {key: value for key, value in manifest.items() if key not in MACHINE_KEYS}


# -- the manifest's library entries ------------------------------------------------------------------------------

def read_entries(store: Store) -> tuple[str | None, dict]:
    """(stamp, entries) as the server holds them; (None, {}) when no machine wrote them yet."""
    if not store.has_collection(STATE):
        return None, {}
    found = store.retrieve(STATE, [ENTRIES_ID])
    if not found:
        return None, {}
    payload = found[0].payload
    entries = {key[len(ENTRY_PREFIX):]: json.loads(value) for key, value in payload.items()
               if key.startswith(ENTRY_PREFIX)}
    return payload.get("stamp"), entries


def write_entries(store: Store, changes: dict) -> str:
    """Set the library entries among `changes` (others are kept as they are); returns the new stamp."""
    stamp = uuid.uuid4().hex
    changes = {**library_entries(changes), "updated_at": utc_now()}  # what caches of the entries are keyed on
    payload = {f"{ENTRY_PREFIX}{key}": json.dumps(value) for key, value in changes.items()}
    payload["stamp"] = stamp
    _ensure_collection(store)
    if store.retrieve(STATE, [ENTRIES_ID]):
        store.set_payload(STATE, [ENTRIES_ID], payload)
    else:
        store.upsert(STATE, [kept_point(STATE, ENTRIES_ID, {"kind": "entries", **payload})])
    return stamp


# -- files of concept runs -------------------------------------------------------------------------------------------

def put_folder(store: Store, key: str, folder: Path) -> int:
    """Keep every file under `folder` in the server under `key` (replacing what was kept there); returns the
    number of bytes kept. Written part by part: each request stays bounded."""
    _ensure_collection(store)
    drop_folder(store, key)
    kept = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        relative = path.relative_to(folder).as_posix()
        parts = max(1, math.ceil(len(data) / FILE_PART_BYTES))
        for part in range(parts):
            chunk = data[part * FILE_PART_BYTES:(part + 1) * FILE_PART_BYTES]
            store.upsert(STATE, [kept_point(STATE, point_id(f"state:file:{key}/{relative}:{part}"), {
                "kind": "file", "folder": key, "path": relative, "part": part, "parts": parts,
                "data": base64.b64encode(chunk).decode("ascii")})])
        kept += len(data)
    return kept


def fetch_folder(store: Store, key: str, folder: Path) -> bool:
    """Write the files kept under `key` into `folder` (made whole beside it, then renamed into place: a reader
    never sees half a folder). False when the server keeps none, or not all parts of them."""
    listed = list(store.scroll(STATE, fields=FILE_FIELDS, where=_folder_filter(key)))
    by_path: dict[str, dict[int, str]] = {}
    expected: dict[str, int] = {}
    for point in listed:
        by_path.setdefault(point.payload["path"], {})[int(point.payload["part"])] = point.id
        expected[point.payload["path"]] = int(point.payload["parts"])
    if not by_path or any(set(parts) != set(range(expected[path])) for path, parts in by_path.items()):
        return False
    partial = folder.with_name(f"{folder.name}.fetching-{uuid.uuid4().hex[:8]}")
    try:
        for path, parts in by_path.items():
            target = partial / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for part in sorted(parts):
                    found = store.retrieve(STATE, [parts[part]])
                    if not found:
                        return False  # dropped meanwhile (an old run): nothing half-written stays
                    out.write(base64.b64decode(found[0].payload["data"]))
        try:
            partial.rename(folder)
        except OSError:  # another thread of this machine fetched it first
            pass
        return True
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def drop_folder(store: Store, key: str) -> None:
    """Forget the files kept under `key`."""
    if store.has_collection(STATE):
        stale = [p.id for p in store.scroll(STATE, fields=False, where=_folder_filter(key))]
        store.delete(STATE, stale)


def kept_folders(store: Store) -> set[str]:
    """The keys of every folder the server keeps files of."""
    if not store.has_collection(STATE):
        return set()
    return {p.payload["folder"] for p in store.scroll(STATE, fields=["folder"], where=_files_filter())}


# -- the job lease -------------------------------------------------------------------------------------------------

def machine_name(data_dir: Path) -> str:
    """How a machine is named to the others: its host and data folder (several workers of one machine share it)."""
    return f"{socket.gethostname()}:{Path(data_dir).resolve()}"


def lease_holder(store: Store, now: float | None = None) -> str | None:
    """The machine that holds the job lease, or None when nobody does (or its holder stopped renewing it)."""
    if not store.has_collection(STATE):
        return None
    found = store.retrieve(STATE, [LEASE_ID])
    if not found or found[0].payload.get("until", 0) <= (now or time.time()):
        return None
    return found[0].payload.get("holder")


def take_lease(store: Store, holder: str) -> str | None:
    """Take (or renew) the job lease for `holder`; None when it holds it now, else the machine that does."""
    other = lease_holder(store)
    if other not in (None, holder):
        return other
    _ensure_collection(store)
    _write_lease(store, holder)
    time.sleep(LEASE_SETTLE_SECONDS)
    after = lease_holder(store)
    return None if after == holder else after


def release_lease(store: Store, holder: str) -> None:
    if lease_holder(store) == holder:
        store.delete(STATE, [LEASE_ID])


@contextmanager
def job_lease(store: Store, holder: str, waiting: Callable[[str], None]) -> Iterator[None]:
    """Hold the job lease while the block runs, renewed in the background. While another machine holds it,
    `waiting(holder)` is called every few seconds (it may raise to give up: a cancel)."""
    while (other := take_lease(store, holder)) is not None:
        waiting(other)
        time.sleep(LEASE_SECONDS / 40)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(LEASE_SECONDS / 4):
            try:
                _write_lease(store, holder)
            except PixceptError as exc:  # the server is away: the job fails by itself if it stays away
                log.warning("could not renew the job lease: %s", exc)

    renewer = threading.Thread(target=renew, name="pixcept-job-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
        release_lease(store, holder)


def _folder_filter(key: str) -> Filter:
    return Filter(must=(Match("folder", (key,)),))


def _files_filter() -> Filter:
    return Filter(must=(Match("kind", ("file",)),))


def _write_lease(store: Store, holder: str) -> None:
    store.upsert(STATE, [kept_point(STATE, LEASE_ID, {"kind": "lease", "holder": holder,
                                                      "until": time.time() + LEASE_SECONDS})])


def _ensure_collection(store: Store) -> None:
    if not store.has_collection(STATE):
        ensure_kept_collection(store, STATE)
        store.ensure_payload_indexes(STATE)
