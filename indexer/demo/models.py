"""open_clip checkpoints made here, loaded through the real loading code (`local-dir:`): a tiny random CLIP for the
tests and random-weight real architectures for the benchmarks. No download: pretrained weights may be out of reach."""

from __future__ import annotations

import json
from pathlib import Path

TINY_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def write_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised open_clip CLIP in open_clip's local-dir format (loaded like any real checkpoint)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CFG)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": TINY_CFG, "preprocess_cfg": {"mean": CLIP_MEAN, "std": CLIP_STD}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


def write_random_checkpoint(folder: Path, architecture: str = "ViT-B-32") -> str:
    """open_clip's `architecture` with random weights, saved as a local-dir checkpoint (no download needed)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    if not (folder / "open_clip_model.safetensors").exists():
        torch.manual_seed(0)
        model = open_clip.create_model(architecture)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"model_cfg": open_clip.get_model_config(architecture), "model_name": architecture,
                  "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN),
                                     "std": list(open_clip.OPENAI_DATASET_STD)}}
        (folder / "open_clip_config.json").write_text(json.dumps(config))
        weights = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(folder / "open_clip_model.safetensors"))
    return f"local-dir:{folder}"
