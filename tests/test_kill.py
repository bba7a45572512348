"""kill -9 of the whole server (gunicorn's master, its worker and the job worker) while it indexes or publishes
concepts, at random points: after each, `pixcept check` finds the library consistent (no duplicate points, no path
held twice, no mixed concept publication), and a restarted server finishes the work."""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

from indexer.concepts.job import run_cluster
from indexer.config import Settings
from indexer.demo import demo_model_spec
from indexer.demo.world import write_library
from indexer.index import index_folders
from indexer.library import Library

from conftest import pixcept_process
from helpers import fit_seed
from test_serve import free_port

ROUNDS = {"index": 2, "cluster": 1}  # bench/kill.py does ten


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    write_library(root / "photos", per_pair=2)
    write_library(root / "more", per_pair=3, seed=5)
    settings = Settings(data_dir=root / "data", model=demo_model_spec(), device="cpu")
    with Library.open(settings) as library:
        index_folders(library, [root / "photos"])
        run_cluster(library, {"seed": fit_seed(3), "min_concept_size": 3})
    env = {"PIXCEPT_DATA_DIR": str(root / "data"), "PIXCEPT_MODEL": demo_model_spec(), "PIXCEPT_DEVICE": "cpu",
           "PIXCEPT_CLUSTER_EVERY": "off"}
    return root, env


def serve(env: dict):
    """`pixcept serve` in a process group of its own (so kill -9 reaches every process), once it is ready."""
    import urllib.request

    port = free_port()
    process = pixcept_process("serve", "--port", port, "--quiet", env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            with urllib.request.urlopen(url + "/api/ready", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server never became ready")


def call(url: str, data_dir, method: str = "GET", body: dict | None = None) -> dict:
    import urllib.request

    token = (data_dir / "server-admin-token").read_text().strip()
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def check(env: dict) -> tuple[int, str]:
    process = pixcept_process("check", env=env)
    out, err = process.communicate(timeout=120)
    return process.returncode, out + err


@pytest.mark.parametrize("kind", [kind for kind, rounds in ROUNDS.items() for _ in range(rounds)])
def test_a_server_killed_during_a_job_leaves_a_consistent_library(world, kind):
    root, env = world
    rng = random.Random(f"{kind}-{time.monotonic_ns()}")
    process, url = serve(env)
    params = {"folders": [str(root / "more")], "batch_size": 4} if kind == "index" else {"seed": 3,
                                                                                         "min_concept_size": 3}
    call(url + "/api/jobs", root / "data", "POST", {"kind": kind, "params": params})
    time.sleep(rng.uniform(0.3, 6.0))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
    code, said = check(env)
    assert code == 0, said
    process, url = serve(env)  # a restarted server finishes the work
    try:
        job = call(url + "/api/jobs", root / "data", "POST", {"kind": kind, "params": params})
        while job["state"] in ("queued", "running"):
            job = call(f"{url}/api/jobs/{job['id']}?after={job['version']}&wait=30", root / "data")
        assert job["state"] == "done", job
        images = call(url + "/api/status", root / "data")["images"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(120)
    assert check(env)[0] == 0 and images >= 96
    if kind == "index":
        assert images == 96 + 144


def test_the_check_finds_a_mixed_publication(world, tmp_path):
    from indexer.concepts import publish
    from indexer.integrity import problems
    from indexer.store import IMAGES

    root, env = world
    with Library.open(Settings(data_dir=root / "data")) as library:
        current = publish.published(library)
        point = next(iter(library.store.scroll(IMAGES, fields=[current.concept_field])))
        before = point.payload.get(current.concept_field)
        library.store.set_payload(IMAGES, [point.id], {current.concept_field: 99_999})
        try:
            assert any("mixed publication" in problem for problem in problems(library))
        finally:
            library.store.set_payload(IMAGES, [point.id], {current.concept_field: before})
        assert problems(library) == []
