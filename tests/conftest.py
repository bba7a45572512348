"""Fixtures: a tiny random open_clip model loaded through pixcept's real loading code, real Qdrant local mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from indexer.cli import cli  # noqa: E402
from indexer.config import Schedule, Settings  # noqa: E402
from indexer.demo.models import write_tiny_model
from indexer.embed import load_embedder  # noqa: E402
from indexer.library import Library  # noqa: E402

from helpers import make_library  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["browsing"]  # the browser fixtures (`browser`, `page`), for every test module that asks for them
# No scheduled concept runs in the background of tests about other things (servers in this process get NO_SCHEDULE,
# `pixcept serve` processes the variable); tests of the schedule turn it on.
os.environ.setdefault("PIXCEPT_CLUSTER_EVERY", "off")
NO_SCHEDULE = Schedule(cluster_every=None)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_model_spec(tiny_model_dir) -> str:
    return f"local-dir:{tiny_model_dir}"


@pytest.fixture(scope="session")
def embedder(tiny_model_spec):
    return load_embedder(tiny_model_spec, device="cpu")


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir, tiny_model_spec) -> Settings:
    return Settings(data_dir=data_dir, model=tiny_model_spec, device="cpu", schedule=NO_SCHEDULE)


@pytest.fixture
def library(settings):
    with Library.open(settings, command="pytest") as opened:
        yield opened


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    make_library(root, 12)
    return root


@pytest.fixture
def cli_env(data_dir, tiny_model_spec, monkeypatch) -> dict:
    env = {"PIXCEPT_DATA_DIR": str(data_dir), "PIXCEPT_MODEL": tiny_model_spec, "PIXCEPT_DEVICE": "cpu"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("QDRANT_URL", raising=False)
    return env


@pytest.fixture
def run(cli_env):
    """Run the pixcept CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def pixcept_process(*args, env: dict, **kwargs) -> subprocess.Popen:
    """The real `pixcept` command in its own process (for locks, kills and start-up errors)."""
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "indexer.cli", *map(str, args)], env=full_env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
