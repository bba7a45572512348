"""The vocabulary: the shipped default list, user files, prompt-template embedding, incremental adds."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.errors import UsageError
from indexer.store import VOCABULARY
from indexer.vocab import add_entries, embed_entries, entry_id, search_words
from indexer.words import TEMPLATES, default_vocabulary, read_entries_file


def test_default_vocabulary_is_several_thousand_visual_words():
    version, words = default_vocabulary()
    assert version == "default-1"
    assert 3000 <= len(words) <= 10000
    assert len({w.lower() for w in words}) == len(words)
    assert {"red", "blue", "dog", "beach", "bicycle", "circle", "sunset", "golden retriever"} <= set(words)


def test_user_file_parsing(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# my words\nRed Car\nred car  # duplicate, other case\n\n  sailing   boat \n")
    assert read_entries_file(path) == ["Red Car", "sailing boat"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(UsageError, match="holds no words"):
        read_entries_file(tmp_path / "empty.txt")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(UsageError, match="not a UTF-8 text file"):
        read_entries_file(tmp_path / "binary.txt")
    with pytest.raises(UsageError, match="Cannot read"):
        read_entries_file(tmp_path / "missing.txt")
    (tmp_path / "long.txt").write_text("x" * 500)
    with pytest.raises(UsageError, match="too long"):
        read_entries_file(tmp_path / "long.txt")


def test_entries_are_the_mean_of_their_prompts(embedder):
    vector = embed_entries(embedder, ["lighthouse"])[0]
    prompts = embedder.embed_texts([t.format("lighthouse") for t in TEMPLATES])
    expected = prompts.mean(axis=0)
    np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-5)


def test_adding_is_incremental(library):
    first = add_entries(library, ["red", "blue", "green"], "user", "user:a.txt")
    assert (first.added, first.present) == (3, 0)
    second = add_entries(library, ["red", "blue", "yellow"], "user", "user:b.txt")
    assert (second.added, second.present) == (1, 2)
    assert library.store.count(VOCABULARY) == 4
    point = library.store.retrieve(VOCABULARY, [entry_id("yellow")])[0]
    assert point.payload["word"] == "yellow" and point.payload["source"] == "user"
    yellow = embed_entries(library.embedder(), ["yellow"])[0]
    assert search_words(library, yellow, limit=1) == [("yellow", pytest.approx(1.0, abs=1e-4))]
    assert library.manifest["vocabularies"]["user"] == "user:b.txt"


def test_vocab_cli(run, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("kayak\ncanoe\n")
    result = run("vocab", "add", words)
    assert result.exit_code == 0, result.output
    assert "2 words added, 0 already present" in result.stdout
    assert "0 words added, 2 already present" in run("vocab", "add", words).stdout
    assert run("vocab", "add").exit_code == 2
