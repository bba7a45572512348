"""Retrieval quality of a CLIP model on your own labelled photos.

    .venv/bin/python bench/quality.py FOLDER [--model ViT-B-32:laion2b_s34b_b79k] [--k 10]

FOLDER holds one subfolder per label (the subfolder's name is the label: `FOLDER/dog/*.jpg`, `FOLDER/beach/*.jpg`).
Every image is embedded with the model, then for each label the text prompt "a photo of a {label}" searches them all:
- recall@k: of the label's images, the share found in the top k (out of at most k);
- precision@k: of the top k, the share with the label;
- zero-shot accuracy: images whose best-matching prompt is their own label's;
- concept ARI: agreement of pixcept's concepts (UMAP + HDBSCAN, seeded) with the folders.
The embedding runs in memory through pixcept's CLIP module; nothing is written to a library. Pretrained weights are
downloaded on first use; without network access the script says how to provide them and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer.embed import DEFAULT_MODEL, ModelUnavailableError, load_embedder  # noqa: E402
from indexer.images import BadImage, decode_image, is_image_name, read_file  # noqa: E402


def labelled_images(folder: Path) -> list[tuple[Path, str]]:
    return [(path, sub.name) for sub in sorted(p for p in folder.iterdir() if p.is_dir())
            for path in sorted(sub.rglob("*")) if path.is_file() and is_image_name(path.name)]


def evaluate(embedder, items: list[tuple[Path, str]], k: int, prompt: str) -> tuple[list[dict], float, int]:
    images, labels, skipped = [], [], 0
    for path, label in items:
        try:
            images.append(decode_image(read_file(str(path)), embedder.image_size).image)
            labels.append(label)
        except BadImage:
            skipped += 1
    vectors = embedder.embed_images(images)
    names = sorted(set(labels))
    queries = embedder.embed_texts([prompt.format(name.replace("_", " ")) for name in names])
    scores = queries @ vectors.T  # labels x images
    truth = np.array(labels)
    rows = []
    for i, name in enumerate(names):
        top = np.argsort(-scores[i])[:k]
        relevant = int((truth == name).sum())
        hits = int((truth[top] == name).sum())
        rows.append({"label": name, "images": relevant, "recall@k": hits / min(k, relevant), "precision@k": hits / k})
    accuracy = float((np.array(names)[scores.argmax(axis=0)] == truth).mean())
    return rows, accuracy, skipped, vectors, truth


def concept_agreement(vectors: np.ndarray, truth: np.ndarray, min_concept_size: int | None) -> dict:
    """How well pixcept's concepts recover the folders: ARI over all images (outliers count as one group) and over
    the images given a concept."""
    from sklearn.metrics import adjusted_rand_score

    from indexer.concepts import ConceptSettings, fit_concepts

    concepts = fit_concepts(vectors, ConceptSettings(min_concept_size=min_concept_size, seed=0))
    members = concepts.labels >= 0
    return {"concepts": concepts.count, "outlier_share": concepts.outlier_share,
            "ari": adjusted_rand_score(truth, concepts.labels),
            "ari_members": adjusted_rand_score(truth[members], concepts.labels[members]) if members.any() else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--prompt", default="a photo of a {}")
    parser.add_argument("--min-concept-size", type=int, help="default: grows with the number of images")
    args = parser.parse_args()
    items = labelled_images(args.folder) if args.folder.is_dir() else []
    if len({label for _, label in items}) < 2:
        print(f"{args.folder} needs at least two subfolders of images, one per label.", file=sys.stderr)
        return 2
    try:
        embedder = load_embedder(args.model)
    except ModelUnavailableError as exc:
        print(exc, file=sys.stderr)
        return 2
    rows, accuracy, skipped, vectors, truth = evaluate(embedder, items, args.k, args.prompt)
    print(f"model {embedder.identity.describe()}; {len(items) - skipped} images, {len(rows)} labels"
          + (f", {skipped} unreadable skipped" if skipped else ""))
    print(f"{'label':24} {'images':>6} {'recall@' + str(args.k):>10} {'precision@' + str(args.k):>13}")
    for row in rows:
        print(f"{row['label'][:24]:24} {row['images']:6d} {row['recall@k']:10.3f} {row['precision@k']:13.3f}")
    print(f"{'mean':24} {'':6} {np.mean([r['recall@k'] for r in rows]):10.3f} "
          f"{np.mean([r['precision@k'] for r in rows]):13.3f}")
    agreement = concept_agreement(vectors, truth, args.min_concept_size)
    print(f"concepts: {agreement['concepts']} (outliers {agreement['outlier_share']:.1%}); ARI with the folders "
          f"{agreement['ari']:.3f}, {agreement['ari_members']:.3f} on images with a concept")
    print(f"zero-shot accuracy: {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
