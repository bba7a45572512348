"""Rebuild pixcept's default vocabulary (vocabulary.txt beside this file), reproducibly and offline.

Sources, both under permissive licences:
- WordNet 3.0 (Princeton University; the WordNet 3.0 licence, BSD-like), as Debian's `wordnet-base` package ships it:
  noun senses from the lexicographer files of visible things (artifacts, animals, food, plants, natural objects, body
  parts, substances, shapes), lower-case lemmas only (no proper nouns), none glossed as offensive, kept when the
  sense was tagged at least MIN_TAG_COUNT times in WordNet's semantic concordance (cntlist.rev), so rare and
  technical words drop out.
- The 1000 ImageNet class names that open_clip ships (open_clip.zero_shot_metadata, MIT licence).
- Basic colour terms (WordNet files them under attributes) and people/scene words listed in EXTRA.

Run: `apt-get install wordnet-base && python -m indexer.data.build_vocabulary`
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
OUTPUT = Path(__file__).with_name("vocabulary.txt")
MIN_TAG_COUNT = 1

# WordNet lexicographer file numbers for nouns of things one can photograph.
LEXFILES = {5: "animal", 6: "artifact", 8: "body", 13: "food", 17: "object", 20: "plant", 25: "shape", 27: "substance"}
OFFENSIVE_MARKERS = ("offensive", "slur", "vulgar", "obscene", "derogatory", "disparaging", "slang")
# People and scenes: WordNet's person, location and phenomenon files are mostly roles and abstractions, so the words
# a photo library needs from them are listed here.
EXTRA = ["man", "woman", "child", "baby", "boy", "girl", "people", "crowd", "family", "couple", "friends", "portrait",
         "selfie", "group photo", "wedding", "party", "concert", "city", "street", "road", "bridge", "skyline",
         "forest", "park", "garden", "field", "meadow", "desert", "lake", "river", "sea", "ocean", "beach", "mountain",
         "waterfall", "island", "countryside", "village", "sky", "sunset", "sunrise", "night", "snow", "rain", "fog",
         "cloud", "rainbow", "lightning", "fire", "fireworks", "smoke", "kitchen", "bedroom", "living room",
         "office", "classroom", "restaurant", "shop", "market", "stadium", "airport", "train station", "museum",
         "church", "screenshot", "document", "receipt", "text", "diagram", "map", "drawing", "painting",
         "illustration", "cartoon", "logo", "meme", "photo", "image", "picture"]
COLOURS = ["black", "white", "grey", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
           "cyan", "magenta", "beige", "gold", "silver", "turquoise", "navy", "maroon"]
HEADER = """\
# pixcept default vocabulary, version {version}: {count} common visual English nouns and phrases.
# Built by indexer/data/build_vocabulary.py from WordNet 3.0 (Princeton University, WordNet 3.0 licence:
# https://wordnet.princeton.edu/license-and-commercial-use), the ImageNet class names shipped with open_clip (MIT),
# basic colour terms, and common people/scene words. One entry a line; lines starting with # are comments.
"""
VERSION = "1"


def wordnet_nouns(folder: Path = WORDNET, min_count: int = MIN_TAG_COUNT) -> set[str]:
    counts: Counter[str] = Counter()
    for line in (folder / "cntlist.rev").read_text().splitlines():
        sense_key, _, tag_count = line.split()
        lemma, _, lex = sense_key.partition("%")
        pos, lexfile = lex.split(":")[:2]
        if pos == "1" and int(lexfile) in LEXFILES:
            counts[lemma] += int(tag_count)
    written, unwanted = _synset_words(folder / "data.noun")
    return {_clean(lemma) for lemma, n in counts.items()
            if n >= min_count and lemma in written and lemma not in unwanted and _acceptable(lemma)}


def _synset_words(data_noun: Path) -> tuple[set[str], set[str]]:
    """Lemmas written in lower case in a selected lexicographer file (proper nouns are capitalised there), and
    lemmas with any sense glossed as offensive."""
    written: set[str] = set()
    unwanted: set[str] = set()
    for line in data_noun.read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue  # licence header
        fields, _, gloss = line.partition(" | ")
        parts = fields.split()
        lexfile, count = int(parts[1]), int(parts[3], 16)
        words = [re.sub(r"\(.*\)$", "", w) for w in parts[4:4 + 2 * count:2]]
        if any(marker in gloss.lower() for marker in OFFENSIVE_MARKERS):
            unwanted.update(w.lower() for w in words)
        if lexfile in LEXFILES:
            written.update(w for w in words if w == w.lower())
    return written, unwanted


def imagenet_names() -> set[str]:
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return {name.lower() for name in IMAGENET_CLASSNAMES}


def _acceptable(lemma: str) -> bool:
    # lower case only (no proper nouns), letters, spaces and hyphens, at most three words
    return bool(re.fullmatch(r"[a-z][a-z_\-']*", lemma)) and lemma.count("_") <= 2 and len(lemma) > 2


def _clean(lemma: str) -> str:
    return lemma.replace("_", " ")


def build() -> list[str]:
    words = wordnet_nouns() | imagenet_names() | set(COLOURS) | set(EXTRA)
    return sorted(words)


def main() -> int:
    if not WORDNET.exists():
        print(f"{WORDNET} not found: install Debian's wordnet-base package.", file=sys.stderr)
        return 1
    words = build()
    OUTPUT.write_text(HEADER.format(version=VERSION, count=len(words)) + "\n".join(words) + "\n")
    print(f"wrote {len(words)} entries to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
