"""Benchmark: concept modeling (`indexer.concepts.fit_concepts`) on noisy synthetic embeddings.

    .venv/bin/python bench/concepts.py [--sizes 10000,50000,100000] [--smallest 50 --min-concept-size 50]

Data: 512-d clustered embeddings, 50 concepts of uneven size, 10 % background images that belong to no concept
(indexer.demo.synthetic). Every configuration runs in a fresh process, which fits twice: "cold" is the first fit
(numba compiles UMAP's kernels, or loads them from its cache in ~/.cache/pixcept/numba), "warm" the second.
Seeded fits are reproducible and run UMAP single-threaded; unseeded ones use both cores.
Reported: wall time, peak RSS of the fitting process (the input vectors, loaded from disk, included), ARI against
the truth on the concept
members, outlier share and outlier recall, and how well each kind of concept embedding assigns new images.
Goals on 2 cores at 50k: warm <= 20 s, cold <= 45 s, ARI >= 0.99; peak RSS at 100k <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import peak_rss_mb  # noqa: E402  (also puts the project on sys.path)


def child(data: Path, seeded: bool, min_size: int | None = None, min_samples: int | None = None) -> dict:
    """Fit twice on the vectors saved in `data`; the process's peak RSS is then the fit's plus the input's."""
    started = time.perf_counter()
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from indexer.concepts import ConceptSettings, assign, fit_concepts
    from indexer.demo.synthetic import clustered_embeddings

    vectors, truth = np.load(data / "vectors.npy"), np.load(data / "truth.npy")
    n = len(vectors)
    settings = ConceptSettings(seed=7 if seeded else None, min_concept_size=min_size, min_samples=min_samples)
    result = {"points": n, "seeded": seeded, "imports_s": time.perf_counter() - started}
    for run in ("cold", "warm"):
        t = time.perf_counter()
        concepts = fit_concepts(vectors, settings)
        result[f"{run}_s"] = time.perf_counter() - t
    members, background = truth >= 0, truth < 0
    result["ari"] = adjusted_rand_score(truth[members], concepts.labels[members])
    # Which concept embedding assigns new images best: the mean of all members, or of the MMR exemplars?
    fresh, fresh_truth = clustered_embeddings(5000, concepts=50, background=0.1, seed=0, draw_seed=1)
    fresh_members = fresh_truth >= 0
    exemplar_means = np.stack([vectors[e].mean(axis=0) for e in concepts.exemplars])
    exemplar_means /= np.linalg.norm(exemplar_means, axis=1, keepdims=True)
    for name, embeddings in (("mean", concepts.embeddings), ("exemplars", exemplar_means)):
        assigned = assign(fresh, embeddings, concepts.thresholds)
        result[f"assign_ari_{name}"] = adjusted_rand_score(fresh_truth[fresh_members], assigned[fresh_members])
    result["concepts"] = concepts.count
    result["outlier_share"] = concepts.outlier_share
    result["outlier_recall"] = float((concepts.labels[background] < 0).mean())
    smallest = truth == np.bincount(truth[members]).argmin()  # found: a concept holds most of it
    result["smallest"] = int(smallest.sum())
    result["smallest_found"] = bool(np.bincount(concepts.labels[smallest & (concepts.labels >= 0)],
                                                minlength=1).max() * 2 > smallest.sum())
    result["rss_mb"] = peak_rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--smallest", type=int, help="the smallest concept has exactly this many images")
    parser.add_argument("--min-concept-size", type=int, help="fit with this minimum concept size (default: grows)")
    parser.add_argument("--min-samples", type=int, help="HDBSCAN's min_samples (default: pixcept's)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        number = lambda text: int(text) if text != "-" else None  # noqa: E731
        print(json.dumps(child(Path(args.child[0]), args.child[1] == "seeded", number(args.child[2]),
                               number(args.child[3]))))
        return
    import numpy as np

    from indexer.demo.synthetic import clustered_embeddings

    rows = []
    with tempfile.TemporaryDirectory(prefix="pixcept-concept-bench-") as work:
        for n in [int(s) for s in args.sizes.split(",")]:
            data = Path(work) / str(n)
            data.mkdir()
            vectors, truth = clustered_embeddings(n, concepts=50, background=0.1, seed=0, smallest=args.smallest)
            np.save(data / "vectors.npy", vectors)
            np.save(data / "truth.npy", truth)
            for seeded in (False, True):
                out = subprocess.run([sys.executable, __file__, "--child", str(data),
                                      "seeded" if seeded else "unseeded", str(args.min_concept_size or "-"),
                                      str(args.min_samples or "-")], capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(out.stderr[-3000:])
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    header = f"{'points':>8} {'seeded':>7} {'cold s':>7} {'warm s':>7} {'peak MiB':>8} {'ARI':>6} {'concepts':>8} " \
             f"{'outliers':>8} {'outlier recall':>14} {'smallest (found)':>16}"
    print(header)
    for r in rows:
        print(f"{r['points']:>8,} {str(r['seeded']):>7} {r['cold_s']:>7.1f} {r['warm_s']:>7.1f} {r['rss_mb']:>8.0f} "
              f"{r['ari']:>6.3f} {r['concepts']:>8} {r['outlier_share']:>8.3f} {r['outlier_recall']:>14.3f} "
              f"{r['smallest']:>9} ({'yes' if r['smallest_found'] else 'no'})")
    print("cold = first fit in a fresh process (after imports), warm = second fit; ARI on the concept members.")
    print("assigning 5,000 new images by nearest concept embedding, ARI: "
          + ", ".join(f"{r['points']:,}{' seeded' if r['seeded'] else ''}: mean {r['assign_ari_mean']:.3f} vs "
                      f"exemplars {r['assign_ari_exemplars']:.3f}" for r in rows))


if __name__ == "__main__":
    main()
