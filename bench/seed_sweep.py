"""How much margin the concept tests have: run them under several seeds and several CPU-kernel settings.

A seeded UMAP fit is reproducible only on one CPU and BLAS build (Intel and AMD kernels round differently, and UMAP
amplifies it), so the tests assert properties that any reasonable fit of the demo world has. This script checks that
claim: it runs the tests that fit concepts on the demo world once per (variant, seed), each in a fresh pytest
process, with PIXCEPT_TEST_SEED set (tests/helpers.py `fit_seed`) and the variant's environment, which picks other
BLAS kernels (OPENBLAS_CORETYPE), other torch kernels (ATEN_CPU_CAPABILITY) or one thread, and prints a table.

    .venv/bin/python bench/seed_sweep.py                      # 10 seeds x 3 variants, the concept tests
    .venv/bin/python bench/seed_sweep.py --seeds 0 1 2 --variants as-is
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "as-is": {},
    "haswell": {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2"},  # another CPU's kernels
    "1-thread": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
                 "MKL_NUM_THREADS": "1"},
}
# the tests whose outcome depends on a fit of the demo world
TESTS = [
    "tests/test_concept_job.py::test_concepts_follow_colour_and_are_named_by_it",
    "tests/test_concept_job.py::test_the_hierarchy_groups_concepts_with_parents_children_and_labels",
    "tests/test_concept_job.py::test_a_recluster_of_an_unchanged_library_writes_nothing_and_keeps_every_id",
    "tests/test_concept_job.py::test_ids_stay_when_ten_percent_new_images_arrive",
    "tests/test_concepts.py::test_demo_world_concepts_follow_colour_and_are_named_by_it",
    "tests/test_concepts.py::test_demo_world_tags_and_image_search_of_concepts",
    "tests/test_concepts.py::test_ctfidf_labels",
    "tests/test_browser.py::test_search_upload_similar_and_share",
    "tests/test_browser.py::test_concept_pages_by_keyboard_and_for_assistive_technology",
]


def run_once(tests: list[str], seed: int, variant: dict) -> tuple[int, list[str], float]:
    """(tests passed, tests failed, seconds) of one pytest process."""
    env = {**os.environ, **variant, "PIXCEPT_TEST_SEED": str(seed)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *tests],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    failed = re.findall(r"^FAILED (\S+)", done.stdout, re.MULTILINE)
    for line in re.findall(r"^FAILED .*$", done.stdout, re.MULTILINE):
        print(f"    {line[:300]}", file=sys.stderr, flush=True)  # what failed, for the person reading along
    passed = re.search(r"(\d+) passed", done.stdout)
    if done.returncode not in (0, 1):  # not a test outcome: collection error, crash
        raise SystemExit(f"pytest stopped with exit code {done.returncode}:\n{done.stdout[-3000:]}"
                         f"{done.stderr[-2000:]}")
    return int(passed.group(1)) if passed else 0, failed, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--tests", nargs="+", default=TESTS)
    args = parser.parse_args()

    print(f"{'variant':<10} {'seed':>4} {'passed':>6} {'failed':>6} {'s':>6}  failures", flush=True)
    runs, clean, failures = 0, 0, Counter()
    for name in args.variants:
        for seed in args.seeds:
            passed, failed, seconds = run_once(args.tests, seed, VARIANTS[name])
            runs += 1
            clean += not failed
            failures.update(test.split("::")[-1] for test in failed)
            print(f"{name:<10} {seed:>4} {passed:>6} {len(failed):>6} {seconds:>6.0f}  "
                  f"{', '.join(t.split('::')[-1] for t in failed)}", flush=True)
    print(f"\n{clean} of {runs} runs passed every test ({len(args.tests)} tests a run).")
    for test, count in failures.most_common():
        print(f"  {test}: failed in {count} of {runs} runs")


if __name__ == "__main__":
    main()
