"""The one place that knows CLIP: model loading, preprocessing and batched embedding.

Everything else hands this module PIL images or strings and gets back L2-normalised float32 vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Sequence
from urllib.parse import urlparse

import numpy as np
from PIL import Image

from .errors import PixceptError

DEFAULT_MODEL = "ViT-B-32:laion2b_s34b_b79k"
LOCAL_DIR = "local-dir:"
HF_HUB = "hf-hub:"

log = logging.getLogger(__name__)


class ModelUnavailableError(PixceptError):
    """The requested model or its weights cannot be loaded."""


@dataclass(frozen=True)
class ModelIdentity:
    """What a collection's vectors depend on. Two models with equal identities give comparable vectors."""

    name: str
    pretrained: str
    dim: int

    def describe(self) -> str:
        weights = f", {self.pretrained}" if self.pretrained else ""
        return f"{self.name}{weights}, {self.dim}-d"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelIdentity":
        return cls(name=data["name"], pretrained=data.get("pretrained", ""), dim=int(data["dim"]))


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model string: `ARCH:TAG`, `ARCH:/path/to/weights.pt`, `local-dir:/folder` or `hf-hub:org/repo`."""

    text: str
    architecture: str
    pretrained: str | None

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        text = text.strip()
        if not text:
            raise ModelUnavailableError("The model name is empty. Use e.g. --model ViT-B-32:laion2b_s34b_b79k.")
        if text.startswith((LOCAL_DIR, HF_HUB)):
            return cls(text, text, None)
        if os.path.isdir(os.path.expanduser(text)):
            # A bare folder is taken as an open_clip local-dir checkpoint.
            folder = str(Path(text).expanduser().resolve())
            return cls(LOCAL_DIR + folder, LOCAL_DIR + folder, None)
        architecture, _, pretrained = text.partition(":")
        if not pretrained:
            raise ModelUnavailableError(
                f"Model '{text}' names no weights. Write ARCHITECTURE:PRETRAINED_TAG "
                "(e.g. ViT-B-32:laion2b_s34b_b79k), "
                "ARCHITECTURE:/path/to/checkpoint.pt, or local-dir:/path/to/folder. Without weights CLIP is random."
            )
        return cls(text, architecture, pretrained)

    @property
    def local_dir(self) -> Path | None:
        if self.text.startswith(LOCAL_DIR):
            return Path(self.text[len(LOCAL_DIR):]).expanduser()
        return None


def _offline_help(spec: ModelSpec, reason: str) -> str:
    return (
        f"Could not load the CLIP model '{spec.text}': {reason}\n"
        "pixcept downloads pretrained weights through open_clip the first time a model is used, which needs internet "
        "access (to Hugging Face or the weights' original host). To work offline, either run pixcept once on a "
        "connected machine so the weights land in the cache (~/.cache/huggingface or $HF_HOME, copy that folder over), "
        "or point --model / PIXCEPT_MODEL at a local checkpoint: 'local-dir:/path/to/folder' with "
        "open_clip_config.json and open_clip_model.safetensors, or 'ViT-B-32:/path/to/weights.pt'."
    )


HUB_PROBE_SECONDS = 1.0


def _use_cache_only_if_hub_unreachable() -> None:
    """Without a route to the Hub, a download retries for about a minute and warns at every try before failing. Find
    out in about a second instead and let huggingface_hub use its cache alone: a cached model still loads, a missing
    one fails at once with pixcept's explanation. Behind a proxy the probe cannot tell, so it is skipped."""
    from huggingface_hub import constants

    proxied = any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))
    if constants.HF_HUB_OFFLINE or proxied:
        return
    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=HUB_PROBE_SECONDS).close()
    except OSError as exc:
        log.info("%s is unreachable (%s): using the local model cache only", endpoint.hostname, exc)
        constants.HF_HUB_OFFLINE = True


OPEN_CLIP_CONFIG = "open_clip_config.json"
HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # what open_clip looks for, in order


def weight_files(spec: ModelSpec) -> list[tuple[str, tuple[str, ...]]]:
    """What loading `spec` downloads from the Hugging Face Hub: (repository, names of which the first found is
    taken) per file, as open_clip asks for them (a safetensors file before the pickle it replaces). Empty for local
    checkpoints and for weights open_clip fetches from another host."""
    if spec.local_dir is not None or (spec.pretrained and os.path.isfile(os.path.expanduser(spec.pretrained))):
        return []
    if spec.text.startswith(HF_HUB):
        repository = spec.text[len(HF_HUB):]
        return [(repository, (OPEN_CLIP_CONFIG,)), (repository, HUB_WEIGHTS)]
    import open_clip

    hub = open_clip.get_pretrained_cfg(spec.architecture, spec.pretrained or "").get("hf_hub", "")
    if not hub:
        return []
    repository, name = os.path.split(hub)
    if not name or name == HUB_WEIGHTS[1]:
        return [(repository, HUB_WEIGHTS)]
    stem, suffix = os.path.splitext(name)
    return [(repository, (f"{stem}.safetensors", name) if suffix in (".bin", ".pth", ".pt") else (name,))]


def fetch_weights(model: str | ModelSpec, report: Callable[[str, int, int | None], None]) -> None:
    """Download (or find in the cache) what loading `model` needs from the Hub, before loading it, calling
    `report(file name, bytes done, bytes in all)` as the bytes arrive: a model switch shows its download. Nothing
    to do for local checkpoints."""
    spec = model if isinstance(model, ModelSpec) else ModelSpec.parse(model)
    files = weight_files(spec)
    if not files:
        return
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    _use_cache_only_if_hub_unreachable()
    for repository, names in files:
        for name in names:
            try:
                hf_hub_download(repository, name, tqdm_class=_reporting(partial(report, name)))
                break
            except EntryNotFoundError:
                continue  # the next of the names open_clip would try
            except Exception as exc:  # noqa: BLE001 - network, cache and repository errors: one explanation
                raise ModelUnavailableError(_offline_help(spec, f"{name} could not be downloaded ({exc}).")) from exc
        else:
            raise ModelUnavailableError(f"{repository} on the Hugging Face Hub has none of {', '.join(names)}: it is "
                                        "not an open_clip model.")


def _reporting(report: Callable[[int, int | None], None]):
    """A progress-bar class for huggingface_hub that draws nothing and tells `report` (bytes done, in all)."""
    from huggingface_hub.utils import tqdm as hub_tqdm

    class Reporting(hub_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.bytes_done = int(kwargs.get("initial") or 0)
            self.bytes_total = kwargs.get("total")
            report(self.bytes_done, self.bytes_total)

        def update(self, n: float | None = 1) -> bool | None:
            self.bytes_done += int(n or 0)
            report(self.bytes_done, self.bytes_total)
            return super().update(n)

    return Reporting


def _file_digest(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _local_dir_identity(folder: Path) -> tuple[str, str]:
    config_path = folder / "open_clip_config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        config = {}
    weights = sorted(p for p in folder.iterdir() if p.suffix in {".safetensors", ".bin", ".pt", ".pth"})
    name = config.get("model_name") or config.get("model_cfg", {}).get("name") or "local-dir"
    return str(name), "sha256:" + _file_digest([config_path, *weights])


def _pick_device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Embedder:
    """A loaded CLIP model. Thread-safe: model calls take one of a bounded number of slots (one by default)."""

    def __init__(self, spec: ModelSpec, model, preprocess: Callable, tokenizer, device: str, identity: ModelIdentity):
        self.spec = spec
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        self.identity = identity
        self._slots = threading.BoundedSemaphore(1)
        size = model.visual.preprocess_cfg.get("size", 224)
        self.image_size: int = int(max(size) if isinstance(size, (tuple, list)) else size)

    def serve_concurrently(self, calls: int) -> None:
        """Let up to `calls` model calls run at once, each on one torch thread. For a server's small queries this
        beats one call on many threads (measured on 2 cores: one text takes 23 ms on 2 threads, 24 ms on 1, so
        intra-op threads buy nothing and two calls side by side double the throughput). Sets torch's thread count
        for the whole process: call it only in a process that serves queries."""
        import torch

        torch.set_num_threads(1)
        self._slots = threading.BoundedSemaphore(max(1, calls))

    @property
    def dim(self) -> int:
        return self.identity.dim

    @property
    def trims_text(self) -> bool:
        """True when text batches can be cut to their longest sequence without changing the result.

        That holds for open_clip's own text tower with a causal mask and EOT pooling: position i only attends to
        positions <= i, so padding after the pooled token never reaches it.
        """
        import open_clip

        return (
            type(self.model) is open_clip.CLIP
            and getattr(self.model, "attn_mask", None) is not None
            and getattr(self.model, "text_pool_type", None) in ("argmax", "eos")
        )

    # -- images -----------------------------------------------------------------------------------------------------

    def preprocess_image(self, image: Image.Image):
        """PIL image (RGB) -> model input tensor. Safe to call from worker threads."""
        return self.preprocess(image)

    def embed_tensors(self, tensors: Sequence) -> np.ndarray:
        """Preprocessed image tensors -> (N, dim) normalised float32."""
        import torch

        if not tensors:
            return np.zeros((0, self.dim), np.float32)
        batch = torch.stack(list(tensors)).to(self.device)
        with self._slots, torch.inference_mode():
            features = self.model.encode_image(batch)
        return _normalise(features)

    def embed_images(self, images: Sequence[Image.Image], batch_size: int = 32) -> np.ndarray:
        tensors = [self.preprocess_image(image.convert("RGB")) for image in images]
        parts = [self.embed_tensors(tensors[i:i + batch_size]) for i in range(0, len(tensors), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)

    # -- text -------------------------------------------------------------------------------------------------------

    def embed_texts(self, texts: Sequence[str], batch_size: int = 128, trim: bool = True) -> np.ndarray:
        """Texts -> (N, dim) normalised float32, in input order.

        Texts are sorted by token length so each batch is cut to a short common length (exact for causal towers).
        """
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        tokens = self.tokenizer(list(texts))
        trim = trim and self.trims_text
        lengths = self._pooled_positions(tokens) + 1 if trim else torch.full((len(texts),), tokens.shape[1])
        order = torch.argsort(lengths, stable=True)
        out = np.empty((len(texts), self.dim), np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            batch = tokens[rows]
            if trim:
                batch = batch[:, : int(lengths[rows].max())]
            with self._slots, torch.inference_mode():
                features = self._encode_text_trimmed(batch.to(self.device)) if trim else \
                    self.model.encode_text(batch.to(self.device))
            out[rows.numpy()] = _normalise(features)
        return out

    def embed_text(self, text: str) -> np.ndarray:
        return self.embed_texts([text])[0]

    def _pooled_positions(self, tokens):
        if self.model.text_pool_type == "eos":
            return (tokens == self.model.text_eos_id).int().argmax(dim=-1)
        return tokens.argmax(dim=-1)

    def _encode_text_trimmed(self, tokens):
        """open_clip's CLIP.encode_text on a sequence shorter than the context length."""
        import torch
        from open_clip.transformer import text_global_pool

        model = self.model
        length = tokens.shape[1]
        cast_dtype = model.transformer.get_cast_dtype()
        x = model.token_embedding(tokens).to(cast_dtype)
        x = x + model.positional_embedding[:length].to(cast_dtype)
        x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
        x = model.ln_final(x)
        x = text_global_pool(x, tokens, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
        if model.text_projection is not None:
            projection = model.text_projection
            x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
        return x


def _normalise(features) -> np.ndarray:
    return normalise_rows(features.float().cpu().numpy())


def normalise_rows(vectors) -> np.ndarray:
    """Rows scaled to unit length, as float32 (pixcept's vectors are compared by cosine everywhere)."""
    vectors = np.asarray(vectors, np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def model_identity_for(spec: ModelSpec, dim: int) -> ModelIdentity:
    if spec.local_dir is not None:
        name, pretrained = _local_dir_identity(spec.local_dir)
        return ModelIdentity(name, pretrained, dim)
    if spec.text.startswith(HF_HUB):
        return ModelIdentity(spec.text, "", dim)
    pretrained = spec.pretrained or ""
    if os.path.isfile(os.path.expanduser(pretrained)):
        pretrained = "sha256:" + _file_digest([Path(pretrained).expanduser()])
    return ModelIdentity(spec.architecture, pretrained, dim)


def load_embedder(model: str | ModelSpec = DEFAULT_MODEL, device: str | None = None) -> Embedder:
    """Load an open_clip model by spec. Raises ModelUnavailableError with advice when it cannot."""
    spec = model if isinstance(model, ModelSpec) else ModelSpec.parse(model)
    _check_spec(spec)
    import open_clip

    device = _pick_device(device)
    if spec.local_dir is None and not (spec.pretrained and os.path.isfile(os.path.expanduser(spec.pretrained))):
        _use_cache_only_if_hub_unreachable()
    try:
        pretrained = os.path.expanduser(spec.pretrained) if spec.pretrained else None
        clip, _, preprocess = open_clip.create_model_and_transforms(
            spec.architecture, pretrained=pretrained, device=device)
        tokenizer = open_clip.get_tokenizer(spec.architecture)
    except RuntimeError as exc:
        message = str(exc)
        if "Failed to download" in message or "Failed initial config" in message or "local cache" in message:
            raise ModelUnavailableError(_offline_help(spec, "its weights could not be downloaded.")) from exc
        if "not a known tag" in message:
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(spec.architecture)) or "none"
            raise ModelUnavailableError(
                f"'{spec.pretrained}' is neither a pretrained tag of {spec.architecture} nor a checkpoint file. "
                f"Known tags: {tags}.") from exc
        if "not found in built-ins" in message:
            raise ModelUnavailableError(
                f"Unknown CLIP architecture '{spec.architecture}'. See `python -c \"import open_clip; "
                "print(open_clip.list_pretrained())\"` for the names open_clip knows.") from exc
        raise ModelUnavailableError(_offline_help(spec, message)) from exc
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"Could not load the CLIP model '{spec.text}': {exc}") from exc
    clip.eval()  # open_clip returns training mode; BatchNorm towers drift otherwise
    dim = _embedding_dim(clip)
    identity = model_identity_for(spec, dim)
    log.info("loaded %s on %s", identity.describe(), device)
    return Embedder(spec, clip, preprocess, tokenizer, device, identity)


def _check_spec(spec: ModelSpec) -> None:
    folder = spec.local_dir
    if folder is not None and not (folder / "open_clip_config.json").is_file():
        raise ModelUnavailableError(
            f"'{folder}' is not an open_clip checkpoint folder: it needs open_clip_config.json and the weights "
            "(open_clip_model.safetensors or open_clip_pytorch_model.bin).")


def _embedding_dim(clip) -> int:
    import torch

    projection = getattr(clip, "text_projection", None)
    if isinstance(projection, torch.nn.Linear):
        return int(projection.out_features)
    if projection is not None:
        return int(projection.shape[1])
    with torch.inference_mode():
        size = clip.visual.preprocess_cfg.get("size", 224)
        size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        probe = torch.zeros(1, 3, *size, device=next(clip.parameters()).device)
        return int(clip.encode_image(probe).shape[-1])
