"""A vocabulary's words as people write them: the default vocabulary shipped with pixcept, entries read from a
file or a request and checked by one rule, and the prompt templates each entry is embedded through.

Nothing here touches the model or the store (`indexer.vocab` embeds and stores), so training the demo models can
read the same words without a library.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Iterable

from .errors import UsageError

TEMPLATES = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
    "a bright photo of a {}.",
    "a dark photo of a {}.",
)
TEMPLATES_VERSION = "t1"
MAX_ENTRY_CHARS = 100


def default_vocabulary() -> tuple[str, list[str]]:
    """(version, entries) of the vocabulary shipped with pixcept."""
    text = resources.files("indexer.data").joinpath("vocabulary.txt").read_text(encoding="utf-8")
    version = "default-1"
    for line in text.splitlines():
        if line.startswith("# pixcept default vocabulary, version "):
            version = "default-" + line.split("version ", 1)[1].split(":", 1)[0]
            break
    return version, parse_entries(text.splitlines())


def parse_entries(lines: Iterable[str]) -> list[str]:
    """One entry a line; blank lines and # comments are passed over; duplicates (ignoring case) kept once."""
    return check_entries([line.split("#", 1)[0] for line in lines if line.split("#", 1)[0].strip()])


def check_entries(entries: Iterable[str]) -> list[str]:
    """Vocabulary entries as they are stored, whether from a file or the jobs API (one rule for both): spaces
    collapsed, at most MAX_ENTRY_CHARS characters, no control characters, duplicates (ignoring case) kept once."""
    checked, seen = [], set()
    for raw in entries:
        entry = " ".join(raw.split())
        if not entry or not entry.isprintable():
            raise UsageError(f"Vocabulary entries must be words or phrases, not {raw[:40]!r}.")
        if len(entry) > MAX_ENTRY_CHARS:
            raise UsageError(f"Vocabulary entry too long ({len(entry)} characters, limit {MAX_ENTRY_CHARS}): "
                             f"{entry[:40]}...")
        if entry.lower() not in seen:
            seen.add(entry.lower())
            checked.append(entry)
    return checked


def read_entries_file(path: Path) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not a UTF-8 text file (one word or phrase a line).") from exc
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    entries = parse_entries(text.splitlines())
    if not entries:
        raise UsageError(f"{path} holds no words (one word or phrase a line; # starts a comment).")
    return entries
