"""`ConceptModel`: concept modeling for notebooks, compatible with MaartenGr/Concept 0.2.1's API.

    from indexer.concepts import ConceptModel
    model = ConceptModel(min_concept_size=30)
    concepts = model.fit_transform(image_paths, docs=my_texts)
    model.topics, model.frequency, model.find_concepts("beach"), model.visualize_concepts()

Unlike Concept it copes with no outliers, small clusters, `top_n` beyond the number of concepts and any image mode,
labels concepts with distinctive words (not the words close to every image), and needs no data directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..embed import normalise_rows
from ..errors import UsageError
from ..images import BadImage, decode_image, read_file, to_rgb
from .algorithm import (
    Concepts,
    ConceptSettings,
    assign,
    ctfidf_words,
    distinctive_words,
    fit_concepts,
    image_tags,
    montage,
)

CONCEPT_MODEL_NAMES = {"clip-ViT-B-32": "ViT-B-32:openai", "clip-ViT-B-16": "ViT-B-16:openai",
                       "clip-ViT-L-14": "ViT-L-14:openai"}
SAVE_VERSION = 1


class ConceptModel:
    def __init__(self, min_concept_size: int | None = 30, diversity: float = 0.3,
                 embedding_model: str = "clip-ViT-B-32", vectorizer_model=None, umap_model=None, hdbscan_model=None,
                 ctfidf: bool = False, seed: int | None = None, top_n_words: int = 10):
        self.min_concept_size = min_concept_size
        self.diversity = diversity
        self.embedding_model = embedding_model
        self.vectorizer_model = vectorizer_model
        self.umap_model = umap_model
        self.hdbscan_model = hdbscan_model
        self.ctfidf = ctfidf
        self.seed = seed
        self.top_n_words = top_n_words
        self._embedder = None
        self.concepts: Concepts | None = None
        self.image_embeddings: np.ndarray | None = None
        self.image_names: list[str] | None = None
        self.words: list[str] = []
        self.word_embeddings = np.zeros((0, 0), np.float32)
        self.labels_with_scores: dict[int, list[tuple[str, float]]] = {}
        self.tags: list[list[tuple[str, float]]] = []
        self._images: list = []
        self.concept_ids: list[int] | None = None  # a library's stable IDs of concepts 0..K-1 (from_library)

    # -- fitting ----------------------------------------------------------------------------------------------------

    def fit_transform(self, images: Sequence | None = None, docs: Sequence[str] | None = None,
                      image_names: Sequence[str] | None = None, image_embeddings: np.ndarray | None = None
                      ) -> list[int]:
        """Cluster the images into concepts; returns one concept id per image (-1: no concept). Labels come from
        `docs` (through the vectorizer), else from pixcept's default vocabulary when the images were embedded here
        (with precomputed `image_embeddings` and no docs, no model is loaded and there are no labels)."""
        embedded_here = image_embeddings is None
        if image_embeddings is None:
            if not images:
                raise UsageError("fit_transform needs images (paths or PIL images) or image_embeddings.")
            image_embeddings = self._embed_images(images)
        vectors = np.asarray(image_embeddings, np.float32)
        if vectors.ndim != 2 or len(vectors) < 2:
            raise UsageError("image_embeddings must be an (N, dim) array with N >= 2.")
        if images is not None and len(images) != len(vectors):
            raise UsageError(f"{len(images)} images but {len(vectors)} embeddings.")
        self._images = list(images) if images is not None else []
        if image_names is None and self._images:  # paths name themselves; in-memory images get their position
            image_names = [f"image {n}" if isinstance(i, Image.Image) else str(i) for n, i in enumerate(self._images)]
        self.image_names = list(image_names) if image_names is not None else None
        self.image_embeddings = normalise_rows(vectors)
        settings = ConceptSettings(min_concept_size=self.min_concept_size, diversity=self.diversity, seed=self.seed)
        self.concepts = fit_concepts(self.image_embeddings, settings, reducer=self.umap_model,
                                     clusterer=self.hdbscan_model)
        self._label(docs, words_needed=embedded_here or docs is not None)
        return self.concepts.labels.tolist()

    def fit(self, images: Sequence | None = None, docs: Sequence[str] | None = None,
            image_names: Sequence[str] | None = None, image_embeddings: np.ndarray | None = None) -> "ConceptModel":
        self.fit_transform(images, docs, image_names, image_embeddings)
        return self

    def transform(self, images: Sequence | None = None, image_embeddings: np.ndarray | None = None) -> list[int]:
        """Concepts of new images: the nearest concept, or -1 when none is near enough."""
        concepts = self._fitted()
        if image_embeddings is None:
            image_embeddings = self._embed_images(images or [])
        return self._public(assign(np.asarray(image_embeddings, np.float32), concepts.embeddings,
                                   concepts.thresholds))

    # -- results ----------------------------------------------------------------------------------------------------

    @property
    def cluster_labels(self) -> list[int]:
        return self._public(self._fitted().labels)

    @property
    def cluster_embeddings(self) -> list[np.ndarray]:
        return list(self._fitted().embeddings)

    @property
    def frequency(self):
        """DataFrame indexed by `Cluster` with column `Count`, largest first, without the outliers (-1)."""
        import pandas as pd

        sizes = self._fitted().sizes
        frame = pd.DataFrame({"Cluster": self._public(np.arange(len(sizes))), "Count": sizes})
        return frame.sort_values("Count", ascending=False, kind="stable").set_index("Cluster")

    @property
    def topics(self) -> dict[int, str]:
        """{concept: "word1, word2, ..."}, most distinctive first."""
        return {self._public_one(k): ", ".join(w for w, _ in words) for k, words in self.labels_with_scores.items()}

    @property
    def cluster_images(self) -> dict:
        """Per concept, ONE montage of its exemplars (a PIL image), as Concept 0.2.1 returns; None for concepts
        fitted on embeddings alone. `cluster_exemplars` has the exemplars themselves."""
        return {k: montage(pictures, size=600) if pictures and all(isinstance(p, Image.Image) for p in pictures)
                else None for k, pictures in self.cluster_exemplars.items()}

    @property
    def cluster_exemplars(self) -> dict[int, list]:
        """Per concept, its exemplars (diverse, most typical first): PIL images when fitted on images, else indices."""
        concepts = self._fitted()
        return {self._public_one(k): [self._image(i) for i in exemplars]
                for k, exemplars in enumerate(concepts.exemplars)}

    @property
    def hierarchy(self) -> list[dict]:
        return self._fitted().hierarchy

    @property
    def outliers(self) -> dict:
        concepts = self._fitted()
        return {"count": concepts.outliers, "share": concepts.outlier_share}

    def find_concepts(self, search_term: str | Image.Image, top_n: int = 5) -> list[tuple[int, float]]:
        """The concepts closest to a text or an image, as [(concept, similarity)], best first."""
        concepts = self._fitted()
        if isinstance(search_term, str):
            query = self._embedder_or_load().embed_text(search_term)
        else:
            query = self._embedder_or_load().embed_images([to_rgb(search_term)])[0]
        similarity = concepts.embeddings @ query
        order = np.argsort(-similarity)[: max(0, top_n)]
        return [(self._public_one(int(k)), float(similarity[k])) for k in order]

    def visualize_concepts(self, top_n: int = 9, concepts: Sequence[int] | None = None, figsize=(20, 15)):
        """A matplotlib Figure: a montage of exemplars per concept, titled with its labels."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fitted = self._fitted()
        chosen = list(concepts) if concepts is not None else list(self.frequency.index[:top_n])
        chosen = [k for k in chosen if 0 <= self._index(k) < fitted.count]
        columns = max(1, min(3, len(chosen)))
        rows = max(1, -(-len(chosen) // columns))
        figure, axes = plt.subplots(rows, columns, figsize=figsize, squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, k in zip(axes.flat, chosen):
            pictures = [p for p in self.cluster_exemplars[k] if isinstance(p, Image.Image)]
            if pictures:
                ax.imshow(montage(pictures, size=600))
            ax.set_title(f"{k}: {self.topics.get(k, '')[:60]}", fontsize=10)
        return figure

    # -- a library's published concepts -----------------------------------------------------------------------------

    @classmethod
    def from_library(cls, data_dir: str | Path | None = None, settings=None) -> "ConceptModel":
        """The published concepts of a pixcept library, with its stable concept IDs: `frequency`, `topics`,
        `find_concepts`, `transform`, `visualize_concepts` and the rest work on the real library. The library is
        opened and closed again (not possible while `pixcept serve` holds it: use its API then). Image vectors are
        not loaded (`image_embeddings` is None); `image_names` are the images' paths."""
        from ..config import Settings
        from ..library import Library
        from .read import library_concepts

        if settings is None and data_dir is None:
            raise UsageError("Name the library: a data folder, or Settings.")
        settings = settings or Settings(data_dir=Path(str(data_dir)).expanduser())
        with Library.open(settings, command="ConceptModel.from_library") as library:
            loaded = library_concepts(library)
        model = cls(min_concept_size=loaded.concepts.min_concept_size, embedding_model=loaded.model_spec)
        model.concepts, model.concept_ids = loaded.concepts, loaded.ids
        model.labels_with_scores = {k: [tuple(pair) for pair in labels] for k, labels in enumerate(loaded.labels)}
        model.image_names, model._images, model.tags = loaded.paths, loaded.paths, loaded.tags
        return model

    # -- persistence ------------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the fitted model to a folder (arrays as .npz, the rest as JSON; images are not saved)."""
        concepts = self._fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / "arrays.npz", labels=concepts.labels, embeddings=concepts.embeddings,
                            thresholds=concepts.thresholds, parents=concepts.parents,
                            image_embeddings=self._image_embeddings(), word_embeddings=self.word_embeddings)
        meta = {
            "version": SAVE_VERSION, "min_concept_size": self.min_concept_size, "diversity": self.diversity,
            "embedding_model": self.embedding_model, "ctfidf": self.ctfidf, "seed": self.seed,
            "top_n_words": self.top_n_words, "fitted_min_concept_size": concepts.min_concept_size,
            "exemplars": concepts.exemplars, "hierarchy": concepts.hierarchy, "words": self.words,
            "labels": {str(k): v for k, v in self.labels_with_scores.items()}, "image_names": self.image_names,
            "tags": self.tags,
        }
        (folder / "model.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: str | Path) -> "ConceptModel":
        folder = Path(path)
        meta = json.loads((folder / "model.json").read_text())
        if meta.get("version", 0) > SAVE_VERSION:
            raise UsageError(f"{folder} was saved by a newer pixcept.")
        arrays = np.load(folder / "arrays.npz")
        model = cls(min_concept_size=meta["min_concept_size"], diversity=meta["diversity"],
                    embedding_model=meta["embedding_model"], ctfidf=meta["ctfidf"], seed=meta["seed"],
                    top_n_words=meta["top_n_words"])
        model.concepts = Concepts(arrays["labels"], arrays["embeddings"], arrays["thresholds"], meta["exemplars"],
                                  arrays["parents"], meta["hierarchy"], meta["fitted_min_concept_size"])
        model.image_embeddings = arrays["image_embeddings"]
        model.word_embeddings = arrays["word_embeddings"]
        model.words = meta["words"]
        model.labels_with_scores = {int(k): [tuple(x) for x in v] for k, v in meta["labels"].items()}
        model.image_names = meta["image_names"]
        model.tags = [[tuple(x) for x in row] for row in meta["tags"]]
        return model

    # -- helpers ----------------------------------------------------------------------------------------------------

    def _public_one(self, k: int) -> int:
        """A concept's ID as the user sees it: its position, or its library ID (from_library)."""
        return self.concept_ids[k] if self.concept_ids is not None and k >= 0 else k

    def _public(self, indices: np.ndarray) -> list[int]:
        return [self._public_one(int(k)) for k in indices]

    def _index(self, concept: int) -> int:
        if self.concept_ids is None:
            return concept
        return self.concept_ids.index(concept) if concept in self.concept_ids else -1

    def _fitted(self) -> Concepts:
        if self.concepts is None:
            raise UsageError("This ConceptModel is not fitted yet: call fit() or fit_transform() first.")
        return self.concepts

    def _image_embeddings(self) -> np.ndarray:
        if self.image_embeddings is None:
            raise UsageError("This ConceptModel has no image embeddings yet: call fit() or fit_transform() first.")
        return self.image_embeddings

    def _embedder_or_load(self):
        if self._embedder is None:
            from ..embed import load_embedder

            self._embedder = load_embedder(CONCEPT_MODEL_NAMES.get(self.embedding_model, self.embedding_model))
        return self._embedder

    def _embed_images(self, images: Sequence) -> np.ndarray:
        embedder = self._embedder_or_load()
        return embedder.embed_images([_load(image, embedder.image_size) for image in images])

    def _image(self, index: int):
        if index < len(self._images):
            image = self._images[index]
            return to_rgb(image) if isinstance(image, Image.Image) else _load(image, 256)
        return index

    def _label(self, docs: Sequence[str] | None, words_needed: bool) -> None:
        """Vocabulary from `docs` (through the vectorizer, as in Concept), else pixcept's default vocabulary."""
        concepts = self._fitted()
        if not words_needed:  # precomputed embeddings and no docs: the model is never loaded
            self.labels_with_scores, self.tags = {}, []
            return
        self.words = self._vocabulary(docs)
        from ..vocab import embed_entries

        embedder = self._embedder_or_load()
        images = self._image_embeddings()
        if embedder.dim != images.shape[1]:
            raise UsageError(f"The image embeddings have {images.shape[1]} dimensions, but "
                             f"{self.embedding_model} gives {embedder.dim}: the words could not be compared with them.")
        self.word_embeddings = embed_entries(embedder, self.words)
        self.tags = image_tags(images, self.word_embeddings, self.words, top_n=5)
        if self.ctfidf:
            ranked = _ctfidf(concepts.labels, self.tags, concepts.count, self.top_n_words)
        else:
            ranked = distinctive_words(concepts.embeddings, self.word_embeddings, self.words, self.top_n_words)
        self.labels_with_scores = dict(enumerate(ranked))

    def _vocabulary(self, docs: Sequence[str] | None) -> list[str]:
        if docs is None:
            from ..words import default_vocabulary

            return default_vocabulary()[1]
        vectorizer = self.vectorizer_model
        if vectorizer is None:
            from sklearn.feature_extraction.text import CountVectorizer

            vectorizer = CountVectorizer(stop_words="english")
        vectorizer.fit(list(docs))
        words = [str(w) for w in vectorizer.get_feature_names_out()]
        if not words:
            raise UsageError("The docs gave no words for the vocabulary.")
        return words


def _ctfidf(labels: np.ndarray, tags: list[list[tuple[str, float]]], count: int, top_n: int
            ) -> list[list[tuple[str, float]]]:
    """Class-based TF-IDF over each image's suggested tags: words frequent in one concept and rare in others."""
    vocabulary = sorted({w for row in tags for w, _ in row})
    index = {w: i for i, w in enumerate(vocabulary)}
    counts = np.zeros((count, len(vocabulary)))
    for label, row in zip(labels, tags):
        if label >= 0:
            for word, _ in row:
                counts[label, index[word]] += 1
    return ctfidf_words(counts, vocabulary, top_n)


def _load(image, min_side: int) -> Image.Image:
    if isinstance(image, Image.Image):
        return to_rgb(image)
    try:
        return decode_image(read_file(str(image)), min_side).image
    except BadImage as exc:
        raise UsageError(f"Cannot read image {image}: {exc}") from exc
