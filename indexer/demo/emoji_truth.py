"""The emoji world's truth, for judging concepts and their headings: every picture's emoji (and so its Unicode group
and subgroup) is in its file name (SUBGROUP_NAME_N.jpg)."""

from __future__ import annotations

from collections import Counter

from .emoji import Emoji

FACETS = ("group", "subgroup")


def purity(emoji: list[Emoji], facet: str) -> float:
    """The share of a group of pictures in its largest Unicode group (or subgroup)."""
    return Counter(getattr(e, facet) for e in emoji).most_common(1)[0][1] / len(emoji)


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def words_held(emoji: list[Emoji], names: bool = False) -> set[str]:
    """The subgroup and group words (with `names`, also the words of their names) at least half of the pictures have
    (singular: "animals" is "animal")."""
    def words(item: Emoji) -> set[str]:
        found = {*item.subgroup_words, *item.group_words}
        return found | set(item.name_words) if names else found

    counts = Counter(_stem(w) for e in emoji for w in words(e))
    return {word for word, count in counts.items() if count >= len(emoji) / 2}


def label_true(label: str, emoji: list[Emoji], names: bool = False) -> bool:
    """A label is true when it is (or its last word is) a subgroup or group word of at least half the pictures:
    "fruit", "flag", "mammal" ("country flag" for the flags). With `names`, a word of half of their names counts
    too ("clock" for the clocks of the subgroup "time")."""
    words = label.lower().split()
    held = words_held(emoji, names)
    return bool(words) and (_stem(label.lower()) in held or _stem(words[-1]) in held)


def heading_true(record: dict, emoji: list[Emoji]) -> bool:
    """A concept's heading is right when its first label is true of it, or when it says "mixed" and no subgroup or
    group word is held by half of it."""
    from ..concepts.publish import heading_words

    first = heading_words(record)[:1]
    if first == ["mixed"]:
        return not words_held(emoji)
    return bool(first) and label_true(first[0], emoji)
