"""The demo: a generated world, the committed demo CLIP, `pixcept demo`, and bench/quality.py on labelled folders."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from indexer.demo import MODEL_DIR, demo_model_spec
from indexer.demo.world import SHAPES, caption, grid_scenes, random_scene, render, write_library
from indexer.embed import load_embedder

from conftest import ROOT


def test_world_is_deterministic():
    first = [random_scene(random.Random(5)) for _ in range(3)]
    assert first == [random_scene(random.Random(5)) for _ in range(3)]
    assert render(first[0]).tobytes() == render(first[0]).tobytes()
    scenes = [random_scene(random.Random(i)) for i in range(400)]
    assert {t.shape for s in scenes for t in s.things} == set(SHAPES)
    assert 0.15 < sum(len(s.things) == 2 for s in scenes) / len(scenes) < 0.35
    text = caption(scenes[0], random.Random(1))
    thing = scenes[0].main
    assert thing.colour in text or thing.shape in text


def test_committed_checkpoint_is_small_and_documented():
    config = json.loads((MODEL_DIR / "open_clip_config.json").read_text())
    recipe = config["pixcept_training"]
    assert {"seed", "steps", "how", "metrics"} <= set(recipe)
    assert recipe["metrics"]["colour_zero_shot"] >= 0.95
    size = sum(p.stat().st_size for p in MODEL_DIR.iterdir())
    assert size <= 10 * 2**20
    embedder = load_embedder(demo_model_spec(), device="cpu")
    assert embedder.identity.name == "pixcept-demo" and embedder.dim == 64
    assert not embedder.model.training


def test_pixcept_demo_command(run, tmp_path, monkeypatch):
    result = run("demo", tmp_path / "demo", "--per-pair", "2")
    assert result.exit_code == 0, result.output
    assert "96 indexed" in result.stdout and "Try next" in result.stdout
    monkeypatch.setenv("PIXCEPT_DATA_DIR", str(tmp_path / "demo" / "data"))
    monkeypatch.delenv("PIXCEPT_MODEL")
    hits = json.loads(run("search", "red", "circle", "--limit", "2", "--json").stdout)
    assert [Path(h["path"]).name.rsplit("_", 1)[0] for h in hits] == ["red_circle"] * 2
    status = json.loads(run("status", "--json").stdout)
    assert status["images"] == 96 and status["vocabulary"] > 50


def _quality(*args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "bench" / "quality.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)


def test_quality_bench_on_a_labelled_folder(tmp_path):
    for scene in grid_scenes(per_pair=4, seed=4):
        if scene.main.colour in ("red", "blue", "green"):
            folder = tmp_path / "labelled" / scene.main.colour
            folder.mkdir(parents=True, exist_ok=True)
            render(scene, 128).save(folder / f"{scene.main.shape}_{scene.seed}.jpg")
    result = _quality(tmp_path / "labelled", "--model", demo_model_spec(), "--k", "5", "--prompt", "something {}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "3 labels" in lines[0]
    assert float(lines[-1].split(":")[1]) >= 0.9  # zero-shot accuracy
    assert "ARI with the folders" in lines[-2]
    assert float(lines[-3].split()[1]) >= 0.8  # mean recall@5


def test_quality_bench_explains_missing_weights(tmp_path):
    for label in ("a", "b"):
        write_library(tmp_path / "photos" / label, per_pair=1)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = _quality(tmp_path / "photos", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "local-dir:" in result.stderr



def test_training_is_reproducible(tmp_path):
    from indexer.demo.train import train

    first = train(tmp_path / "a", steps=3, seed=7, batch=16, log_every=100)
    train(tmp_path / "b", steps=3, seed=7, batch=16, log_every=100)
    weights = [(tmp_path / d / "open_clip_model.safetensors").read_bytes() for d in "ab"]
    assert weights[0] == weights[1]
    assert first["steps"] == 3 and (tmp_path / "a" / "open_clip_config.json").exists()
    load_embedder(f"local-dir:{tmp_path / 'a'}", device="cpu")  # loads through the normal path
