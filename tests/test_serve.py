"""`pixcept serve` as a real gunicorn process, and the CLI going through it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from indexer.lock import LOCK_NAME, read_lock_info

from conftest import pixcept_process
from helpers import make_library, process_alive


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, *args, quiet: bool = True) -> tuple[subprocess.Popen, str]:
    """A running `pixcept serve`, once it answers /api/ready (the model is warm by then); `quiet`: no access log."""
    port = free_port()
    process = pixcept_process("serve", "--port", port, *(["--quiet"] if quiet else []), *args, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pixcept serve exited: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url + "/api/ready", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("pixcept serve did not become ready in 120 s")


def stop_server(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err


@pytest.fixture
def served(cli_env, tmp_path, run):
    make_library(tmp_path / "photos", 8)
    assert run("index", tmp_path / "photos").exit_code == 0
    process, url = start_server(cli_env)
    yield url
    stop_server(process)


def cli(env, *args, timeout=120):
    process = pixcept_process(*args, env=env)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def test_cli_goes_through_the_running_server(served, cli_env, tmp_path):
    make_library(tmp_path / "more", 4, offset=30)
    code, out, err = cli(cli_env, "index", tmp_path / "more")
    assert code == 0, err
    assert "holds this library; asking it" in err and "4 indexed" in out

    code, out, err = cli(cli_env, "search", "red", "--all", "--limit", "12", "--json")
    assert code == 0, err
    assert len(json.loads(out)) == 12

    query_image = tmp_path / "more" / "red" / "img_032.jpg"
    code, out, err = cli(cli_env, "search", "--image", query_image, "--limit", "3", "--all", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["path"] == str(query_image)

    code, out, err = cli(cli_env, "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["images"] == 12 and status["server"] == served

    words = tmp_path / "words.txt"
    words.write_text("red\nsunset over the sea\n")
    code, out, err = cli(cli_env, "vocab", "add", words)
    assert code == 0 and "2 words added" in out, err

    code, out, err = cli({**cli_env, "PIXCEPT_MODEL": "ViT-B-32:openai"}, "index", tmp_path / "more")
    assert code == 1 and "To change the model, stop the server" in err

    code, out, err = cli(cli_env, "index", tmp_path / "missing")
    assert code == 2 and "Folder not found" in err

    found = [r["id"] for r in json.loads(cli(cli_env, "search", "red", "--all", "--limit", "3", "--json")[1])]
    assert cli(cli_env, "selections", "create", "picked")[0] == 0  # selections and exports through the server
    process = pixcept_process("selections", "add", "picked", "-", env=cli_env, stdin=subprocess.PIPE)
    out, err = process.communicate("\n".join(found), timeout=120)
    assert process.returncode == 0 and "3 images accepted" in out, err
    code, out, err = cli(cli_env, "selections", "show", "picked", "--json")
    assert code == 0 and sorted(i["id"] for i in json.loads(out)) == sorted(found)
    code, out, err = cli(cli_env, "export", "--selection", "picked", "--format", "zip", "--output",
                         tmp_path / "picked.zip")
    assert code == 0 and "3 images exported" in err, err
    assert len([n for n in zipfile.ZipFile(tmp_path / "picked.zip").namelist() if n.startswith("images/")]) == 3
    code, out, err = cli(cli_env, "export", "--selection", "nope", "--format", "csv", "--output", tmp_path / "n.csv")
    assert code == 2 and "No selection named" in err and not (tmp_path / "n.csv").exists()

    code, out, err = cli(cli_env, "migrate")
    assert code != 0 and f"It is serving at {served}" in err

    code, out, err = cli(cli_env, "jobs", "--json")
    listed = json.loads(out)
    assert code == 0 and [(j["kind"], j["state"]) for j in listed] == [("vocab", "done"), ("index", "done")]
    code, out, err = cli(cli_env, "jobs", "--resume", listed[0]["id"])
    assert code == 2 and "only interrupted, failed or cancelled jobs" in err


def raw_request(url: str, request: bytes) -> tuple[str, dict, bytes]:
    """(status line, headers, body) of a request sent as bytes, as no HTTP client would send it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines), body


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /api/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),  # past gunicorn's line limit
    (b"GET /api/search?q=red HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", 431),
    (b"GET /api/search\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /api/search HTTP/9.9\r\nHost: x\r\n\r\n", 400),
])
def test_gunicorns_own_errors_are_json_with_the_security_headers(served, request_bytes, status):
    status_line, headers, body = raw_request(served, request_bytes)
    assert status_line.startswith(f"HTTP/1.1 {status} "), status_line
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["status"] == status and json.loads(body)["error"]["message"]
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy"):
        assert header in headers, headers


def test_the_cli_outlives_a_killed_serving_worker_and_says_how_to_resume(cli_env, tmp_path, run):
    make_library(tmp_path / "photos", 2)
    assert run("index", tmp_path / "photos").exit_code == 0
    make_library(tmp_path / "many", 400, offset=100)
    process, url = start_server(cli_env)
    try:
        indexing = pixcept_process("index", tmp_path / "many", "--batch-size", "4", env=cli_env)
        worker_pid = read_lock_info(tmp_path / "data" / LOCK_NAME)["pid"]
        jobs = tmp_path / "data" / "jobs"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(json.loads(p.read_text()).get("done", 0) >= 40
                                                      for p in jobs.glob("*.json")):
            time.sleep(0.1)
        os.kill(worker_pid, signal.SIGKILL)  # gunicorn's master starts a new worker
        out, err = indexing.communicate(timeout=240)
        assert indexing.returncode == 1, out + err
        assert "interrupted" in err and "pixcept jobs --resume" in err and "Cannot reach" not in err
        job_id = re.search(r"--resume (\S+)`", err).group(1)
        code, out, err = cli(cli_env, "jobs", "--resume", job_id)
        assert code == 0, err
        code, out, err = cli(cli_env, "status", "--json")
        assert code == 0 and json.loads(out)["images"] == 402, err
    finally:
        stop_server(process)


def test_cluster_through_the_server_fits_in_the_worker_and_publishes(cli_env, tmp_path, run):
    make_library(tmp_path / "photos", 40)
    assert run("index", tmp_path / "photos").exit_code == 0
    process, url = start_server(cli_env)
    try:
        code, out, err = cli(cli_env, "cluster", "--min-concept-size", "5", "--seed", "1", timeout=300)
        assert code == 0, err
        assert "holds this library; asking it" in err and out.startswith("Run 1:")
        code, out, err = cli(cli_env, "concepts", "--json")
        assert code == 0, err
        page = json.loads(out)
        assert page["run"] == 1 and sum(c["size"] for c in page["concepts"]) + page["outliers"] == 40
        code, out, err = cli(cli_env, "cluster", "--history")
        assert code == 0 and "run    1  published" in out, err
        jobs = json.loads(cli(cli_env, "jobs", "--json")[1])
        assert jobs[0]["kind"] == "cluster" and jobs[0]["state"] == "done"
    finally:
        stop_server(process)


def test_serve_refuses_unsafe_or_impossible_setups(cli_env, tmp_path, run):
    code, _, err = cli(cli_env, "serve", "--host", "0.0.0.0")
    assert code == 2 and "without a read token" in err
    code, _, err = cli(cli_env, "serve", "--host", "")
    assert code == 2 and "without a read token" in err
    code, _, err = cli(cli_env, "serve", "--workers", "2")
    assert code == 2 and "needs a Qdrant server" in err


def test_a_second_server_on_the_same_library_says_who_holds_it(served, cli_env):
    code, _, err = cli(cli_env, "serve", "--port", free_port())
    assert code != 0 and "is in use by process" in err and served in err


def test_the_server_stops_cleanly_and_frees_the_library(cli_env, tmp_path, run):
    make_library(tmp_path / "photos", 2)
    assert run("index", tmp_path / "photos").exit_code == 0
    process, _ = start_server(cli_env)
    err = stop_server(process)
    assert process.returncode == 0, err
    assert run("status").exit_code == 0 and "served at" not in run("status").stdout


def descendants(pid: int) -> set[int]:
    """The processes below `pid` (children, grandchildren), from /proc."""
    parents = {}
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                with open(f"/proc/{stat}/stat") as handle:
                    parents[int(stat)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def admin_api(url: str, data_dir: Path):
    """A caller of a running server's JSON API, with the admin token the server left in `data_dir`."""
    token = (data_dir / "server-admin-token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(url + path, method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    return call


def indexing_under_way(call, folder: Path, done: int) -> dict:
    """Start an index job of `folder` and return it once it is running with at least `done` images saved."""
    job = call("POST", "/api/jobs", {"kind": "index", "params": {"folders": [str(folder)]}})
    while not (job["state"] == "running" and job["done"] >= done):
        assert job["state"] in ("queued", "running"), job
        job = call("GET", f"/api/jobs/{job['id']}?after={job['version']}&wait=10")
    return job


@pytest.fixture
def many_to_index(cli_env, tmp_path, run) -> Path:
    """A library of 2 images, and a folder of 600 more that takes a server a while to index."""
    make_library(tmp_path / "photos", 2)
    assert run("index", tmp_path / "photos").exit_code == 0
    make_library(tmp_path / "many", 600, offset=100)
    return tmp_path / "many"


def test_killing_gunicorns_master_ends_the_serving_and_job_workers_and_their_job(cli_env, tmp_path, many_to_index):
    process, url = start_server(cli_env)
    try:
        job = indexing_under_way(admin_api(url, tmp_path / "data"), many_to_index, 64)  # the job worker embeds
        below = descendants(process.pid)
        assert len(below) >= 2  # gunicorn's worker (the serving process) and pixcept's job worker
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed = time.monotonic()
        while any(process_alive(pid) for pid in below) and time.monotonic() - killed < 5:
            time.sleep(0.1)
        assert not any(process_alive(pid) for pid in below), "a worker outlived gunicorn's master"
    finally:
        process.kill()
    process, url = start_server(cli_env)
    try:
        ended = admin_api(url, tmp_path / "data")("GET", f"/api/jobs/{job['id']}")
        assert ended["state"] == "interrupted" and ended["done"] < 600, ended  # nothing finished unrecorded
    finally:
        stop_server(process)


def test_a_job_cut_short_by_a_restart_is_interrupted_and_resumes(cli_env, tmp_path, many_to_index):
    process, url = start_server(cli_env)
    job = indexing_under_way(admin_api(url, tmp_path / "data"), many_to_index, 200)  # several batches saved
    stop_server(process)

    process, url = start_server(cli_env)
    call = admin_api(url, tmp_path / "data")
    try:
        interrupted = call("GET", f"/api/jobs/{job['id']}")
        assert interrupted["state"] == "interrupted" and interrupted["done"] < 600
        code, out, err = cli(cli_env, "jobs", "--resume", job["id"])
        assert code == 0, err
        indexed, unchanged = (int(re.search(rf"(\d+) {word}", out).group(1)) for word in ("indexed", "unchanged"))
        assert unchanged >= 150 and indexed + unchanged == 600, out  # only the rest was embedded
        assert call("GET", "/api/status")["images"] == 602
    finally:
        stop_server(process)


def test_json_logs_carry_each_requests_id(cli_env, tmp_path, run):
    make_library(tmp_path / "photos", 3)
    assert run("index", tmp_path / "photos").exit_code == 0
    process, url = start_server({**cli_env, "PIXCEPT_LOG_FORMAT": "json"}, quiet=False)
    try:
        request = urllib.request.Request(url + "/api/health", headers={"X-Request-ID": "trace-77"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.headers["X-Request-ID"] == "trace-77"
    finally:
        err = stop_server(process)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("request_id") == "trace-77"]
    assert access and access[0]["path"] == "/api/health" and access[0]["status"] == 200, err[-2000:]
