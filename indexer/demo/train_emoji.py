"""Train the emoji demo CLIP: a small open_clip model that knows the emoji world of `indexer.demo.emoji`.

    python -m indexer.demo.train_emoji [--out indexer/demo/emoji_model] [--steps 2400] [--seed 0] [--keywords]

Each emoji is drawn in a few varied pictures once (the pool); each step pairs a batch of them with captions true of
them: the Unicode name ("dog face"), the name with its subgroup and group words ("dog face, an animal, a mammal"), or
one word alone: a subgroup or group word ("fruit", "flag"), or a word several names of one subgroup share ("dog":
dog, dog face, guide dog, service dog; `shared_name_words`). With `--keywords`, CLDR's keywords for an emoji count
too where they are one of those words already ("dog" of the poodle, "cat" of the cat, "car" of the automobile): the
world's words reach the emoji people use them of, and no new word comes into play. A word is true of many emoji, so
the loss is CLIP's contrastive loss with every true pair as a target (not only the diagonal): "animal" is not pushed
away from the other animals in the batch.
open_clip's small ResNet image tower and a 3-layer text tower; AdamW with warm-up and cosine decay; two CPU threads,
or a GPU where there is one (`--device`; `--seconds` trains as many steps as fit, `--workers` draws in parallel).
`--focus` and `--hard-outside` train on what the model gets wrong (`HardCases`); `--freeze-text` trains the pictures
only (the shipped model's last six stages); `bench/emoji_model.py` judges a checkpoint against the shipped one.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import multiprocessing
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .emoji import DOGS, Emoji, keywords, load_emoji, render, words_of
from .train import MEAN, STD, clip_optimizer, lr_at, save_checkpoint

MODEL_DIR = Path(__file__).with_name("emoji_model")
MODEL_CFG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 3},
}
RENDER_SIZE = 96
NAME, DESCRIBED = -1, -2  # caption kinds beside a word's index


class Captions:
    """Every caption of the world as (emoji, kind) and the truth of any caption for any emoji, as tensors."""

    def __init__(self, emoji: tuple[Emoji, ...], keywords: dict[str, tuple[str, ...]] | None = None,
                 names_as_words: bool = False) -> None:
        import torch

        self.emoji = emoji
        described = [list(dict.fromkeys((*e.subgroup_words, *e.group_words))) for e in emoji]
        shared = shared_name_words(emoji, {w for words in described for w in words})
        self.words = sorted({w for words in described for w in words} | set(shared))
        index = {w: i for i, w in enumerate(self.words)}
        self.has_word = torch.zeros(len(emoji), len(self.words), dtype=torch.bool)
        self.described_ids = [[index[w] for w in words] for words in described]
        for row, ids in enumerate(self.described_ids):
            self.has_word[row, ids] = True
        for word, rows in shared.items():
            self.has_word[sorted(rows), index[word]] = True
        for row, item in enumerate(emoji):  # a keyword counts only as one of the world's own words: no new words
            self.has_word[row, [index[k] for k in (keywords or {}).get(item.char, ()) if k in index]] = True
        self.word_ids = [self.has_word[row].nonzero().flatten().tolist() for row in range(len(emoji))]
        self.rows_of = [self.has_word[:, word].nonzero().flatten().tolist() for word in range(len(self.words))]
        # A name that is one of the world's words ("dog", "person", "bird") is the same caption as the word; taught
        # as a name it was true of that one emoji and false of the others the word is true of (the poodle, 362
        # other people), against what the word teaches
        self.name_kinds = [index.get(item.name.lower(), NAME) if names_as_words else NAME for item in emoji]

    def text(self, row: int, kind: int) -> str:
        item = self.emoji[row]
        if kind == NAME:
            return item.name
        if kind == DESCRIBED:
            described = ", ".join(f"{'an' if w[0] in 'aeiou' else 'a'} {w}" for w in
                                  (self.words[i] for i in self.described_ids[row]))
            return f"{item.name}, {described}"
        return self.words[kind]

    def sample(self, row: int, rng: random.Random) -> int:
        roll = rng.random()
        return self.name_kinds[row] if roll < 0.4 else DESCRIBED if roll < 0.65 else rng.choice(self.word_ids[row])

    def truth(self, rows, kinds):
        """truth[i, j]: caption j (of emoji rows[j], of kind kinds[j]) is true of picture i."""
        import torch

        rows_t, kinds_t = torch.tensor(rows), torch.tensor(kinds)
        same = rows_t[:, None] == rows_t[None, :]
        words = self.has_word[rows_t][:, kinds_t.clamp(min=0)]
        return torch.where(kinds_t[None, :] < 0, same, words)


class HardCases:
    """What the model gets wrong now, found by its own search over one picture of each emoji (mined again every few
    hundred steps): for each world word, the emoji it is not true of that score highest for it (hedgehog, chipmunk
    and pig face for "dog": `impostors`), and the outside words that rise highest above the pictures' mean score
    (those search would still answer: `outside`)."""

    def __init__(self, world: Captions, outside: list[str], pictures, tokenizer, per_word: int = 16,
                 outside_kept: int = 256) -> None:
        self.world, self.all_outside, self.pictures, self.tokenizer = world, outside, pictures, tokenizer
        self.per_word, self.outside_kept = per_word, outside_kept
        self.impostors: list[list[int]] = []
        self.outside: list[str] = []

    def mine(self, model) -> None:
        import torch

        model.eval()
        with torch.no_grad():
            images = torch.cat([model.encode_image(chunk.float(), normalize=True)
                                for chunk in self.pictures.split(512)])
            words = self._texts(model, self.world.words) @ images.T
            words[self.world.has_word.T.to(words.device)] = -2
            self.impostors = words.topk(self.per_word, dim=1).indices.tolist()
            outside = self._texts(model, self.all_outside) @ images.T
            rise = outside.max(1).values - outside.mean(1)
            self.outside = [self.all_outside[i] for i in rise.topk(self.outside_kept).indices.tolist()]
        model.train()

    def _texts(self, model, texts: list[str]):
        import torch

        tokens = self.tokenizer(texts).to(self.pictures.device)
        return torch.cat([model.encode_text(chunk, normalize=True) for chunk in tokens.split(512)])

    def focused_rows(self, rng: random.Random, groups: int, size: int = 8) -> tuple[list[int], list[int]]:
        """`groups` groups of `size` rows: a world word with half as many emoji it is true of (one captioned with
        the word) and its impostors for the other half, so that "dog" must rank the poodle above the eagle."""
        rows, kinds = [], []
        for _ in range(groups):
            word = rng.randrange(len(self.world.words))
            holders = rng.sample(self.world.rows_of[word], min(size // 2, len(self.world.rows_of[word])))
            others = rng.sample(self.impostors[word], size - len(holders))
            rows += holders + others
            kinds += [word] + [self.world.sample(row, rng) for row in holders[1:] + others]
        return rows, kinds


def prompted(text: str, rng: random.Random, share: float) -> str:
    """A `share` of the captions as pixcept embeds its vocabulary ("a photo of a fruit."; `indexer.words.TEMPLATES`),
    so that labels from the vocabulary mean what the bare words mean."""
    from ..words import TEMPLATES

    return rng.choice(TEMPLATES).format(text) if share and rng.random() < share else text


def shared_name_words(emoji: tuple[Emoji, ...], taken: set[str]) -> dict[str, set[int]]:
    """Words that several names share within one subgroup, and the emoji they name: a word of two or more names,
    60 % of them in one subgroup, names those ("dog": dog, dog face, guide dog, service dog; not hot dog). Words
    spread over many subgroups ("face", "with", "man") name nothing alone; subgroup and group words (`taken`) keep
    their own meaning."""
    rows_of: dict[str, list[int]] = {}
    for row, item in enumerate(emoji):
        for word in set(item.name_words):
            if len(word) >= 3 and word not in taken:
                rows_of.setdefault(word, []).append(row)
    shared = {}
    for word, rows in rows_of.items():
        subgroup, count = Counter(emoji[r].subgroup for r in rows).most_common(1)[0]
        if len(rows) >= 2 and count >= 0.6 * len(rows):
            shared[word] = {r for r in rows if emoji[r].subgroup == subgroup}
    return shared


def picture_pool(emoji: tuple[Emoji, ...], per_emoji: int, seed: int, preprocess, workers: int = 1):
    """`per_emoji` varied pictures of every emoji, preprocessed once (fp16): drawing is the slow part of a step.
    The same seed draws the same pictures with any number of worker processes."""
    import torch

    rng = random.Random(seed)
    seeds = [[rng.randrange(2**31) for _ in range(per_emoji)] for _ in emoji]
    jobs = [(item, item_seeds, preprocess) for item, item_seeds in zip(emoji, seeds)]
    if workers <= 1:
        drawn = [_draw(job) for job in jobs]
    else:  # before any CUDA use: forked workers inherit the loaded font and emoji list
        forked = multiprocessing.get_context("fork")
        with forked.Pool(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            drawn = pool.map(_draw, jobs, chunksize=16)
    return torch.from_numpy(np.stack(drawn))


def _draw(job) -> Any:
    """One emoji's pictures as an fp16 array (numpy, so that workers hand back bytes, not shared-memory handles)."""
    import torch

    item, seeds, preprocess = job
    return torch.stack([preprocess(render(item, seed, RENDER_SIZE)) for seed in seeds]).to(torch.float16).numpy()


def train(out: Path, steps: int, seed: int, batch: int = 256, lr: float = 2e-3, per_emoji: int = 8,
          outside_per_batch: int | None = None, prompted_share: float = 0.5, log_every: int = 100,
          start: Path | None = None, use_keywords: bool = False, device: str = "auto", workers: int = 1,
          seconds: float | None = None, save_every: float | None = None, focus: int = 0,
          hard_outside: float = 0.0, mine_every: int = 200, threads: int = 2, max_scale: float = 100.0,
          names_as_words: bool = False, freeze_text: bool = False) -> dict:
    """Train `steps` steps (or as many as fit in `seconds` of stepping, measured after the first 50), saving to
    `out` at the end and every `save_every` seconds on the way (a run stopped early leaves a checkpoint). With
    `focus`, that many groups of eight rows of each batch pit a word against its impostors, and `hard_outside` is
    the share of outside words drawn from those search still answers (`HardCases`, mined every `mine_every` steps).
    `max_scale` caps the logit scale (CLIP: 100): at 10 the loss asks for wider cosine margins between true and false
    pairs, which is what search's cutoff reads (a word's best picture far above what unknown words reach).
    `freeze_text` trains the image tower (and the logit scale) only: a later stage then teaches the pictures without
    moving any word, so words the world never names stay where the earlier stage left them (below the line)."""
    import open_clip
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    started = time.monotonic()
    outside_per_batch = outside_per_batch or batch // 4
    emoji = load_emoji()
    model = open_clip.CLIP(**MODEL_CFG)
    if start is not None:  # go on from an earlier checkpoint of this recipe
        from safetensors.torch import load_file

        model.load_state_dict({k: v.float() if v.dtype.is_floating_point else v
                               for k, v in load_file(str(start / "open_clip_model.safetensors")).items()})
    preprocess = open_clip.image_transform(MODEL_CFG["vision_cfg"]["image_size"], is_train=False, mean=MEAN, std=STD)
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=MODEL_CFG["text_cfg"]["context_length"])
    world = Captions(emoji, keywords() if use_keywords else None, names_as_words)
    outside = outside_words(emoji)
    pool = picture_pool(emoji, per_emoji, seed, preprocess, workers)
    if device == "auto":  # asked only now: the drawing workers are forked before CUDA starts
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pool = pool.to(device)
    print(f"{len(emoji)} emoji x {per_emoji} pictures drawn in {time.monotonic() - started:.0f} s", flush=True)
    model.to(device)
    if freeze_text:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith("visual.") or name == "logit_scale")
    optimizer = clip_optimizer(model, lr)
    hard = HardCases(world, outside, pool[:, 0], tokenizer)
    recipe = {"seed": seed, "batch": batch, "lr": lr, "render_size": RENDER_SIZE, "pictures_per_emoji": per_emoji,
              "outside_words_per_batch": outside_per_batch, "prompted_share": prompted_share,
              "outside_rule": OUTSIDE_RULE, "outside_words": len(outside),
              "keywords": KEYWORD_RULE if use_keywords else None, "focus_groups": focus,
              "hard_outside": hard_outside, "mine_every": mine_every, "max_logit_scale": max_scale,
              "names_as_words": names_as_words, "freeze_text": freeze_text, "threads": threads,
              "device": _device_name(device),
              "torch": torch.__version__, "open_clip": open_clip.__version__}
    model.train()
    stepping, saved, step = time.monotonic(), time.monotonic(), 0
    while step < steps:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        if (focus or hard_outside) and step % mine_every == 0:
            hard.mine(model)
        rows, kinds = hard.focused_rows(rng, focus) if focus else ([], [])
        rows += [rng.randrange(len(emoji)) for _ in range(batch - len(rows))]
        kinds += [world.sample(row, rng) for row in rows[len(kinds):]]
        images = pool[torch.tensor(rows, device=device), torch.randint(0, per_emoji, (batch,), device=device)].float()
        hard_count = round(outside_per_batch * hard_outside)
        strangers = [*rng.sample(hard.outside, hard_count), *rng.sample(outside, outside_per_batch - hard_count)]
        captions = [prompted(text, rng, prompted_share)
                    for text in [*(world.text(r, k) for r, k in zip(rows, kinds)), *strangers]]
        texts = tokenizer(captions).to(device)  # in one call: 12 ms for a batch (a cache of them grew by GBs)
        image_features, text_features, logit_scale = model(images, texts)[:3]
        truth = torch.cat([world.truth(rows, kinds), torch.zeros(batch, outside_per_batch, dtype=torch.bool)], 1)
        loss = multi_positive_loss(image_features @ text_features.T * logit_scale, truth.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(max_scale))
        if seconds and step == 50:  # as many steps as the time left allows, at the pace of the first 50
            steps = 51 + int((seconds - (time.monotonic() - stepping)) / ((time.monotonic() - stepping) / 51))
        if step % log_every == 0 or step == steps - 1:
            print(f"step {step:5d}/{steps}  loss {loss.item():.3f}  {time.monotonic() - started:6.0f} s", flush=True)
        if save_every and time.monotonic() - saved > save_every:
            _save(model, out, {**recipe, "steps": step + 1, "stopped_early": True}, start)
            model.train()
            saved = time.monotonic()
        step += 1
    recipe["train_seconds"] = round(time.monotonic() - started)
    return _save(model, out, {**recipe, "steps": steps}, start, judged_by=(preprocess, tokenizer))


def _save(model, out: Path, recipe: dict, start: Path | None, judged_by: tuple[Any, Any] | None = None) -> dict:
    """The checkpoint (on the CPU, fp16) with its recipe, the command that makes it and, given the preprocessing and
    tokenizer to judge it with (at the end), its metrics."""
    model.eval()
    cpu = copy.deepcopy(model).cpu()
    if judged_by is not None:
        preprocess, tokenizer = judged_by
        recipe["metrics"] = evaluate(cpu, preprocess, tokenizer, load_emoji())
    recipe["how"] = how = stage_command(recipe)
    if start is not None:  # the earlier stage's recipe, and both commands
        before = json.loads((start / "open_clip_config.json").read_text())["pixcept_training"]
        stage = f"STAGE{before['how'].count('&&') + 1}"
        recipe.update(before=before, how=f"{before['how']} --out {stage} && {how} --start {stage}")
    save_checkpoint(cpu, MODEL_CFG, "pixcept-demo-emoji", recipe, out)
    return recipe


def stage_command(recipe: dict) -> str:
    """The command that trains one stage again from its recipe (options at their defaults left out)."""
    options = [f"--steps {recipe['steps']}", f"--seed {recipe['seed']}", f"--lr {recipe['lr']}",
               f"--prompted {recipe['prompted_share']}", f"--batch {recipe['batch']}",
               f"--pictures {recipe['pictures_per_emoji']}", *(["--keywords"] if recipe["keywords"] else []),
               *(["--names-as-words"] if recipe["names_as_words"] else []),
               *(["--freeze-text"] if recipe.get("freeze_text") else []),
               *([f"--focus {recipe['focus_groups']}", f"--hard-outside {recipe['hard_outside']}",
                  f"--mine-every {recipe['mine_every']}"] if recipe["focus_groups"] or recipe["hard_outside"]
                 else []),
               *([f"--max-scale {recipe['max_logit_scale']:g}"] if recipe["max_logit_scale"] != 100 else []),
               # the number of threads orders the float sums, so it is part of what makes the same weights again
               *([f"--threads {recipe['threads']}"] if recipe.get("threads", 2) != 2 else [])]
    return "python -m indexer.demo.train_emoji " + " ".join(options)


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"


def multi_positive_loss(logits, truth):
    """Cross-entropy both ways against every true pair, each row's (column's) targets sharing its weight. Captions
    true of no picture (words from outside the world) only ever stand against the pictures."""
    target = truth.float()
    images_to_texts = -(target / target.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    held = target.sum(0) > 0
    column_targets = target[:, held] / target[:, held].sum(0, keepdim=True)
    texts_to_images = -(column_targets * logits[:, held].log_softmax(0)).sum(0).mean()
    return (images_to_texts + texts_to_images) / 2


# Which CLDR keywords count (see Captions): only those that are already one of the world's words ("dog" of poodle).
KEYWORD_RULE = "cldr-world-words"
OUTSIDE_RULE = "covered-2"  # which words are trained as true of no picture (see outside_words); stages before it: none


def outside_words(emoji: tuple[Emoji, ...]) -> list[str]:
    """Entries of pixcept's default vocabulary that no emoji is described by: no single emoji's name, subgroup and
    group words hold every word of the entry ("central heating": "central" is in a flag's name, "heating" in none).
    They are trained as true of no picture, so that words from outside the world land away from every picture (as
    "giraffe" does for a real CLIP with no giraffe in the library) instead of wherever their seen words pull them:
    untrained, such entries became the most distinctive words of whole concepts. Words for "no good match" tests
    are out of the vocabulary ("mortgage"): never seen at all. (Stages of the model trained before OUTSIDE_RULE saw
    every other entry that shares no word with any emoji; the rest never.)"""
    from ..words import default_vocabulary

    described = [set(words_of(" ".join((e.name, e.subgroup, e.group)))) for e in emoji]
    return sorted(entry for entry in default_vocabulary()[1]
                  if not any(set(words_of(entry)) <= words for words in described))


def evaluate(model, preprocess, tokenizer, emoji: tuple[Emoji, ...]) -> dict:
    """On new pictures (another seed): the name found among every name, the subgroup among every subgroup, and the
    share of the first ten pictures for "dog", "fruit" and "flag" that are of what the word names."""
    import torch

    rng = random.Random(54321)
    with torch.inference_mode():
        images = model.encode_image(torch.stack([preprocess(render(e, rng.randrange(2**31), RENDER_SIZE))
                                                 for e in emoji]), normalize=True)
        names = model.encode_text(tokenizer([e.name for e in emoji]), normalize=True)
        subgroups = sorted({e.subgroup for e in emoji})
        subgroup_texts = model.encode_text(tokenizer([s.replace("-", " ") for s in subgroups]), normalize=True)
        queries = {"dog": lambda e: e.name in DOGS,
                   "fruit": lambda e: e.subgroup == "food-fruit", "flag": lambda e: e.group == "Flags"}
        words = model.encode_text(tokenizer(list(queries)), normalize=True)
    name_hits = (images @ names.T).argmax(1) == torch.arange(len(emoji))
    subgroup_of = torch.tensor([subgroups.index(e.subgroup) for e in emoji])
    subgroup_hits = (images @ subgroup_texts.T).argmax(1) == subgroup_of
    precision = {}
    for (word, true_of), vector in zip(queries.items(), words):
        top = (images @ vector).topk(10).indices.tolist()
        precision[f"{word}_precision_at_10"] = round(sum(true_of(emoji[i]) for i in top) / 10, 2)
    return {"name_top1": round(name_hits.float().mean().item(), 3),
            "subgroup_zero_shot": round(subgroup_hits.float().mean().item(), 3), **precision}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--pictures", type=int, default=8, help="pictures drawn of each emoji")
    parser.add_argument("--prompted", type=float, default=0.5, help="share of captions in vocabulary prompts")
    parser.add_argument("--keywords", action="store_true", help="CLDR keywords that are world words count too")
    parser.add_argument("--names-as-words", action="store_true", help="a name that is one of the world's words "
                        "(\"dog\", \"person\") is trained as that word, true of every emoji the word is true of")
    parser.add_argument("--freeze-text", action="store_true", help="train the image tower only (a later stage "
                        "that must not move the words, e.g. those the world never names)")
    parser.add_argument("--start", type=Path, help="go on from this checkpoint (a folder this script wrote)")
    parser.add_argument("--device", default="auto", help="cpu, cuda (default: cuda where there is one)")
    parser.add_argument("--workers", type=int, default=1, help="processes drawing the pictures")
    parser.add_argument("--seconds", type=float, help="as many steps as fit in this many seconds (not --steps)")
    parser.add_argument("--save-every", type=float, help="save a checkpoint every this many seconds on the way")
    parser.add_argument("--focus", type=int, default=0, help="groups of 8 rows a batch pitting a word against "
                        "the emoji it is not true of that score highest for it")
    parser.add_argument("--hard-outside", type=float, default=0.0, help="share of outside words drawn from "
                        "those that rise highest above the pictures")
    parser.add_argument("--mine-every", type=int, default=200, help="steps between minings of the hard cases")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--max-scale", type=float, default=100.0, help="cap on the logit scale (CLIP: 100); lower "
                        "asks for wider margins between true and false pairs")
    args = parser.parse_args()
    recipe = train(args.out, args.steps, args.seed, batch=args.batch, lr=args.lr, per_emoji=args.pictures,
                   prompted_share=args.prompted, start=args.start, use_keywords=args.keywords, device=args.device,
                   workers=args.workers, seconds=args.seconds, save_every=args.save_every, focus=args.focus,
                   hard_outside=args.hard_outside, mine_every=args.mine_every, threads=args.threads,
                   max_scale=args.max_scale, names_as_words=args.names_as_words,
                   freeze_text=args.freeze_text)
    print(json.dumps(recipe["metrics"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
