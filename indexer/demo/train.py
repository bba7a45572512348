"""Train the demo CLIP: a tiny open_clip model that really knows the closed world of `indexer.demo.world`.

    python -m indexer.demo.train [--out indexer/demo/model] [--steps 1100] [--seed 0]

Recipe (recorded in the checkpoint's open_clip_config.json): open_clip CLIP with its small ResNet image tower (64 px,
width 16, layers [1, 1, 1, 1]) and a 3-layer, 64-wide text tower over a 32-token context; standard contrastive loss;
AdamW (lr 2e-3, weight decay 0.1 on weights only), batch 128, 100 warm-up steps then cosine decay; scenes generated on
the fly (25 % with two things). One CPU thread, so the same seed gives the same weights; about 8 minutes on the build
machine (1100 steps). Saved in open_clip's local-dir format with fp16 weights (about 9 MB).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from .world import COLOURS, SHAPES, caption, grid_scenes, random_scene, render

MODEL_DIR = Path(__file__).with_name("model")
MODEL_CFG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 3},
}
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
RENDER_SIZE = 128


def lr_at(step: int, steps: int, peak: float, warmup: int = 100) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def train(out: Path, steps: int, seed: int, batch: int = 128, lr: float = 2e-3, log_every: int = 100) -> dict:
    import open_clip
    import torch
    from open_clip.loss import ClipLoss

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = open_clip.CLIP(**MODEL_CFG)
    preprocess = open_clip.image_transform(MODEL_CFG["vision_cfg"]["image_size"], is_train=False, mean=MEAN, std=STD)
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=MODEL_CFG["text_cfg"]["context_length"])
    optimizer = clip_optimizer(model, lr)
    loss_fn = ClipLoss()
    model.train()
    started = time.monotonic()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        scenes = [random_scene(rng) for _ in range(batch)]
        images = torch.stack([preprocess(render(scene, RENDER_SIZE)) for scene in scenes])
        texts = tokenizer([caption(scene, rng) for scene in scenes])
        image_features, text_features, logit_scale = model(images, texts)[:3]  # features normalised, scale exp()
        loss = loss_fn(image_features, text_features, logit_scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % log_every == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}  {time.monotonic() - started:6.0f} s", flush=True)
    model.eval()
    metrics = evaluate(model, preprocess, tokenizer)
    recipe = {"seed": seed, "steps": steps, "batch": batch, "lr": lr, "render_size": RENDER_SIZE,
              "train_seconds": round(time.monotonic() - started), "torch": torch.__version__,
              "open_clip": open_clip.__version__, "metrics": metrics,
              "how": "python -m indexer.demo.train --steps {} --seed {}".format(steps, seed)}
    save_checkpoint(model, MODEL_CFG, "pixcept-demo", recipe, out)
    return recipe


def clip_optimizer(model, lr: float):
    """AdamW as CLIP trains: weight decay on weight matrices only."""
    import torch

    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]  # frozen towers stay out
    decay = [p for n, p in trained if p.ndim >= 2 and "logit_scale" not in n]
    no_decay = [p for n, p in trained if not (p.ndim >= 2 and "logit_scale" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.98), eps=1e-6)


def save_checkpoint(model, model_cfg: dict, name: str, recipe: dict, out: Path) -> None:
    """open_clip's local-dir format, weights in fp16, the training recipe in the config."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": MEAN, "std": STD}, "model_name": name,
              "pixcept_training": recipe}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
             if v.dtype.is_floating_point}
    state.update({k: v.contiguous() for k, v in model.state_dict().items() if not v.dtype.is_floating_point})
    save_file(state, str(out / "open_clip_model.safetensors"))


def evaluate(model, preprocess, tokenizer) -> dict:
    """Zero-shot colour and shape accuracy on held-out scenes."""
    import torch

    scenes = grid_scenes(per_pair=4, seed=12345)
    with torch.inference_mode():
        images = model.encode_image(torch.stack([preprocess(render(s, RENDER_SIZE)) for s in scenes]), normalize=True)
        colours = model.encode_text(tokenizer([f"a photo of something {c}" for c in COLOURS]), normalize=True)
        shapes = model.encode_text(tokenizer([f"a photo of a {s}" for s in SHAPES]), normalize=True)
    colour_hits = sum(list(COLOURS)[i] == s.main.colour for i, s in zip((images @ colours.T).argmax(1), scenes))
    shape_hits = sum(SHAPES[i] == s.main.shape for i, s in zip((images @ shapes.T).argmax(1), scenes))
    return {"colour_zero_shot": round(colour_hits / len(scenes), 3),
            "shape_zero_shot": round(shape_hits / len(scenes), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--steps", type=int, default=1100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    recipe = train(args.out, args.steps, args.seed)
    print(json.dumps(recipe["metrics"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
