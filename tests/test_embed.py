"""The CLIP module: loading by spec, batching, exact text trimming, clear errors."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from indexer.demo.models import write_tiny_model
from indexer.embed import ModelIdentity, ModelSpec, ModelUnavailableError, load_embedder, weight_files

from conftest import pixcept_process
from helpers import make_image

TEXTS = [
    "red",
    "a photo of a red circle",
    "a blurry photo of a very small yellow triangle on a dark background, seen from far away",
    "dog",
    " ".join(["word"] * 120),  # longer than the context: the tokenizer truncates it
    "",
]


def test_tiny_model_loads_through_local_dir(embedder, tiny_model_dir):
    assert embedder.dim == 64
    assert embedder.identity.name == "local-dir"
    assert embedder.identity.pretrained.startswith("sha256:")
    assert not embedder.model.training  # eval mode, or BatchNorm towers drift
    assert embedder.image_size == 224
    assert embedder.trims_text


def test_identity_follows_weights_not_path(tmp_path, embedder, tiny_model_dir):
    copy = write_tiny_model(tmp_path / "copy", seed=0)
    other = write_tiny_model(tmp_path / "other", seed=1)
    assert load_embedder(f"local-dir:{copy}").identity == embedder.identity
    assert load_embedder(str(other)).identity != embedder.identity  # a bare folder is a local-dir spec too


def test_trimmed_text_batches_equal_full_length(embedder):
    trimmed = embedder.embed_texts(TEXTS, trim=True)
    full = embedder.embed_texts(TEXTS, trim=False)
    assert trimmed.dtype == np.float32
    assert np.abs(trimmed - full).max() < 1e-5
    np.testing.assert_allclose(np.linalg.norm(trimmed, axis=1), 1.0, atol=1e-5)


def test_text_batches_keep_input_order(embedder):
    together = embedder.embed_texts(TEXTS, batch_size=2)
    one_by_one = np.stack([embedder.embed_text(t) for t in TEXTS])
    assert np.abs(together - one_by_one).max() < 1e-5
    assert not np.allclose(together[0], together[1])


def test_image_batches_equal_single_images(embedder, tmp_path):
    images = [Image.open(make_image(tmp_path / f"{i}.png", colour, seed=i)).convert("RGB")
              for i, colour in enumerate(["red", "blue", "green"])]
    batch = embedder.embed_images(images)
    singles = np.concatenate([embedder.embed_images([image]) for image in images])
    assert batch.shape == (3, 64)
    assert np.abs(batch - singles).max() < 1e-5
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("spec, message", [
    ("ViT-B-32", "names no weights"),
    ("", "empty"),
    ("NoSuchNet-9:foo", "Unknown CLIP architecture"),
    ("ViT-B-32:not-a-tag", "neither a pretrained tag"),
    ("local-dir:/no/such/folder", "not an open_clip checkpoint folder"),
])
def test_bad_model_specs_say_what_to_do(spec, message):
    with pytest.raises(ModelUnavailableError, match=message):
        load_embedder(spec)


def test_spec_parsing():
    spec = ModelSpec.parse("ViT-B-32:laion2b_s34b_b79k")
    assert (spec.architecture, spec.pretrained) == ("ViT-B-32", "laion2b_s34b_b79k")
    assert ModelSpec.parse("local-dir:/x").local_dir is not None
    assert ModelIdentity.from_dict(ModelIdentity("a", "b", 3).to_dict()) == ModelIdentity("a", "b", 3)


def test_an_unreachable_hub_is_found_out_in_a_second_and_explained_alone(tmp_path):
    """No HF_HUB_OFFLINE set, the Hub unreachable (a closed port): no minute of retries and warnings, one paragraph."""
    make_image(tmp_path / "photos" / "a.jpg")
    env = {"PIXCEPT_DATA_DIR": str(tmp_path / "data"), "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "",
           "PIXCEPT_MODEL": "ViT-B-32:laion2b_s34b_b79k", "HF_HOME": str(tmp_path / "hf")}
    started = time.monotonic()
    process = pixcept_process("index", tmp_path / "photos", env=env)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert time.monotonic() - started < 20  # the start-up of torch and open_clip (~4 s), not a minute of retries
    assert "could not be downloaded" in err and "local-dir:" in err
    assert "Traceback" not in err and "Retry" not in err and "warn" not in err.lower(), err
    lines = err.strip().splitlines()  # pixcept's progress line, then its explanation: nothing from the libraries
    assert lines[0].startswith("Loading CLIP model") and lines[1].startswith("Error: Could not load")
    assert len(lines) == 3 and lines[2].startswith("pixcept downloads pretrained weights"), lines


def test_offline_download_failure_is_one_clear_paragraph(tmp_path):
    """Pretrained weights cannot be downloaded here: the command must explain how to provide them."""
    make_image(tmp_path / "photos" / "a.jpg")
    env = {"PIXCEPT_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
           "PIXCEPT_MODEL": "ViT-B-32:laion2b_s34b_b79k", "HF_HOME": str(tmp_path / "hf")}
    process = pixcept_process("index", tmp_path / "photos", env=env)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert "Traceback" not in err
    assert "could not be downloaded" in err
    assert "local-dir:" in err and "--model" in err


class _Hub(BaseHTTPRequestHandler):
    """The Hugging Face Hub's file endpoint as huggingface_hub uses it (HEAD for the metadata, GET for the bytes),
    serving `files` ({"org/repo/name": bytes}); counts the bytes it sends."""

    files: dict[str, bytes] = {}
    sent: dict[str, int] = {}

    def do_HEAD(self):
        self._answer(with_body=False)

    def do_GET(self):
        self._answer(with_body=True)

    def _answer(self, with_body: bool) -> None:
        parts = self.path.split("?")[0].strip("/").split("/", 4)
        name = parts[-1]
        data = self.files.get(f"{parts[0]}/{parts[1]}/{name}") if len(parts) == 5 and parts[2] == "resolve" else None
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", "0" * 40)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if with_body:
            self.wfile.write(data)
            self.sent[name] = self.sent.get(name, 0) + len(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hub(tiny_model_dir):
    _Hub.files = {f"pixcept/tiny-clip/{p.name}": p.read_bytes() for p in tiny_model_dir.iterdir()}
    _Hub.sent = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_model_switch_shows_the_download_of_the_new_weights(hub, tiny_model_spec, tmp_path):
    """A reindex with a model from the Hub (here a local stand-in: no internet) downloads its weights as the job's
    first stage, in megabytes, then builds the library with it; a second load takes them from the cache."""
    make_image(tmp_path / "photos" / "a.jpg")
    env = {"PIXCEPT_DATA_DIR": str(tmp_path / "data"), "HF_ENDPOINT": hub, "HF_HUB_OFFLINE": "",
           "HF_HOME": str(tmp_path / "hf"), "PIXCEPT_MODEL": tiny_model_spec}
    process = pixcept_process("index", tmp_path / "photos", env=env)
    assert process.wait(timeout=120) == 0, process.communicate()[1]
    switch = pixcept_process("index", "--reindex", tmp_path / "photos",
                             env={**env, "PIXCEPT_MODEL": "hf-hub:pixcept/tiny-clip"})
    out, err = switch.communicate(timeout=120)
    assert switch.returncode == 0, err
    weights = _Hub.files["pixcept/tiny-clip/open_clip_model.safetensors"]
    assert re.search(rf"Downloading open_clip_model.safetensors of hf-hub:pixcept/tiny-clip "
                     rf"\({len(weights) / (1 << 20):,.0f} MB\)", err), err
    assert "open_clip_config.json of" not in err  # a file under a megabyte downloads without a word
    assert _Hub.sent["open_clip_model.safetensors"] == len(weights)  # once: open_clip found it in the cache
    search = pixcept_process("search", "red", env={**env, "PIXCEPT_MODEL": ""})
    out, err = search.communicate(timeout=120)
    assert search.returncode == 0 and "a.jpg" in out, err
    assert _Hub.sent["open_clip_model.safetensors"] == len(weights)


def test_weight_files_are_what_open_clip_asks_the_hub_for():
    assert weight_files(ModelSpec.parse("ViT-B-32:laion2b_s34b_b79k")) == [
        ("laion/CLIP-ViT-B-32-laion2B-s34B-b79K", ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"))]
    assert weight_files(ModelSpec.parse("hf-hub:org/model"))[0] == ("org/model", ("open_clip_config.json",))
    assert weight_files(ModelSpec.parse("local-dir:/somewhere")) == []
