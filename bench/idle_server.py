"""Benchmark: what an idle `pixcept serve` costs in memory, before a job, right after one, and once the job worker
has been idle for PIXCEPT_WORKER_IDLE_SECONDS (set to 15 s here; 300 s by default).

    .venv/bin/python bench/idle_server.py

Library: 200 generated 1024x768 photos, ViT-B-32 with random weights. RSS of every process of the server (gunicorn's
master, the serving worker, the job worker child), from /proc.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from indexer.demo.models import write_random_checkpoint

from common import ROOT, table, write_photos

IDLE_SECONDS = 15


def tree_rss_mb(pid: int) -> dict[str, float]:
    """{process name: RSS MB} of `pid` and its descendants."""
    children = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except (OSError, ValueError):
            continue
        children.setdefault(int(fields["PPid"]), []).append((int(status.parent.name), fields))
    found, todo = {}, [pid]
    while todo:
        for child, fields in children.get(todo.pop(), []):
            found[f"{fields['Name'].strip()} ({child})"] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
            todo.append(child)
    own = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
    found[f"master ({pid})"] = int(own["VmRSS"].split()[0]) / 1024
    return found


def call(url: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def start_serve(env: dict, **popen) -> tuple[subprocess.Popen, str]:
    """`pixcept serve` on a free port with `env`, once it answers /api/ready: (its process, its URL). `popen`:
    more for subprocess.Popen (start_new_session, so a kill reaches the whole tree)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "indexer.cli", "serve", "--port", str(port), "--quiet"],
                              env=env, cwd=ROOT, stderr=subprocess.DEVNULL, **popen)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            call(url + "/api/ready")
            break
        except OSError:
            time.sleep(0.2)
    return server, url


def main() -> None:
    model = write_random_checkpoint(ROOT / "bench" / "results" / "vit-b-32-random")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_photos(work / "photos", 200, (1024, 768))
        env = {**os.environ, "PIXCEPT_DATA_DIR": str(work / "data"), "PIXCEPT_MODEL": model, "PIXCEPT_DEVICE": "cpu",
               "PIXCEPT_WORKER_IDLE_SECONDS": str(IDLE_SECONDS)}
        subprocess.run([sys.executable, "-m", "indexer.cli", "index", str(work / "photos")], env=env, cwd=ROOT,
                       check=True, capture_output=True)
        server, url = start_serve(env)
        try:
            token = (work / "data" / "server-admin-token").read_text().strip()
            call(url + "/api/search?q=beach")
            rows = [{"moment": "ready, one search done, no job yet", **_summary(tree_rss_mb(server.pid))}]
            job = call(url + "/api/jobs", "POST", {"kind": "vocab", "params": {"entries": ["beach", "dog"]}}, token)
            while job["state"] in ("queued", "running"):
                job = call(url + f"/api/jobs/{job['id']}?after={job['version']}&wait=10", token=token)
            rows.append({"moment": "right after a vocabulary job", **_summary(tree_rss_mb(server.pid))})
            time.sleep(IDLE_SECONDS + 3)
            rows.append({"moment": f"job worker idle {IDLE_SECONDS} s (exited)", **_summary(tree_rss_mb(server.pid))})
        finally:
            server.terminate()
            server.wait(60)
    print(table(rows, ["moment", "processes", "total MB", "largest"]))


def _summary(rss: dict[str, float]) -> dict:
    largest = max(rss, key=rss.get)
    return {"processes": len(rss), "total MB": round(sum(rss.values())),
            "largest": f"{largest}: {rss[largest]:.0f} MB"}


if __name__ == "__main__":
    main()
