"""The brand-style demonstration: fine-tune the base model on Fluent 3D images of 100 concepts
(held out of base training), then draw *other* concepts and measure how far they move toward
the 3D style, and whether they still show the prompted concept.

Measures: a style classifier (same CNN as the recogniser, 3 classes: google, twitter, fluent3d)
trained on the corpora with the held-out concepts removed gives P(3d) per image; the concept
recogniser gives top-5 adherence. Both are reported for the base model and with the adapter.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from gesso.data.dataset_format import DatasetRow, read_rows, write_metadata
from gesso.model.adapters import activate_adapter, attach_adapter, detach_adapter
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.train.evaluation import generate_batched, ranks_of_targets
from gesso.train.image_tensors import load_images, to_model_range
from gesso.train.lora_loop import train_lora
from gesso.train.recogniser_loop import augment
from gesso.train.recogniser_net import INPUT_SIZE, Recogniser, RecogniserConfig, load_recogniser
from gesso.train.run_config import FinetuneRunConfig
from gesso.train.sample_grid import save_grid

STYLES = ("google", "twitter", "fluent3d")


@dataclass
class StyleDemoConfig:
    base_corpus: str = "corpus/base"
    fluent_corpus: str = "corpus/fluent3d"
    base_model_dir: str = "models/gesso-base"
    recogniser_dir: str = "models/gesso-recogniser"
    out_dir: str = "runs/style-demo"
    train_concepts: int = 100
    heldout_concepts: int = 48
    seeds: int = 2
    steps: int = 500
    batch_size: int = 4
    rank: int = 8
    learning_rate_multiplier: float = 1.0
    classifier_steps: int = 600
    seed: int = 0


def pick_concepts(fluent: list[DatasetRow], known: set[str], train: int, heldout: int, seed: int) -> tuple[list[str], list[str]]:
    """Disjoint concept lists drawn from the Fluent corpus (default skin tone only)."""
    names = sorted({r.extra["concept"] for r in fluent if r.extra["label"] == r.extra["concept"] and r.extra["concept"] in known})
    random.Random(seed).shuffle(names)
    return names[:train], names[train : train + heldout]


def write_subset(rows: list[DatasetRow], src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for row in rows:
        (dst / row.file_name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / row.file_name, dst / row.file_name)
    write_metadata(dst, rows)
    return dst


def train_style_classifier(corpora: list[tuple[Path, list[DatasetRow]]], steps: int, seed: int) -> Recogniser:
    """A 3-way style classifier (google / twitter / fluent3d) on 32x32 inputs."""
    images, labels = [], []
    for root, rows in corpora:
        images.append(F.interpolate(to_model_range(load_images(root, rows, 64)), size=(INPUT_SIZE, INPUT_SIZE), mode="area"))
        labels += [STYLES.index(r.extra["style"]) for r in rows]
    x, y = torch.cat(images), torch.tensor(labels)
    counts = torch.bincount(y, minlength=len(STYLES)).float()
    sample_weight = (1.0 / counts)[y]  # balance the three styles
    net = Recogniser(RecogniserConfig(num_classes=len(STYLES), widths=(16, 32, 64), embed_dim=64))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=0.05)
    gen = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(steps), desc="style classifier"):
        idx = torch.multinomial(sample_weight, 128, replacement=True, generator=gen)
        loss = F.cross_entropy(net(augment(x[idx], gen)), y[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return net.eval()


@torch.no_grad()
def style_probability(net: Recogniser, images: torch.Tensor, style: str = "fluent3d") -> torch.Tensor:
    logits = net(images.float().div(127.5).sub(1.0))
    return logits.softmax(-1)[:, STYLES.index(style)]


def run_style_demo(config: StyleDemoConfig) -> dict:
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base_root, fluent_root = Path(config.base_corpus), Path(config.fluent_corpus)
    base_rows, fluent_rows = read_rows(base_root), read_rows(fluent_root)
    recogniser, labels = load_recogniser(Path(config.recogniser_dir))
    label_index = {item["concept"]: i for i, item in enumerate(labels)}
    train_names, heldout_names = pick_concepts(
        fluent_rows, set(label_index), config.train_concepts, config.heldout_concepts, config.seed
    )
    train_set = set(train_names)
    heldout = set(heldout_names)
    subset = [r for r in fluent_rows if r.extra["concept"] in train_set and r.extra["label"] == r.extra["concept"]]
    data_dir = write_subset(subset, fluent_root, out / "data")

    shutil.rmtree(out / "lora", ignore_errors=True)  # a finished run left here may belong to another base model
    started = time.perf_counter()
    ft = FinetuneRunConfig(
        data_dir=str(data_dir), base_model_dir=config.base_model_dir, out_dir=str(out / "lora"),
        batch_size=config.batch_size, max_steps=config.steps, rank=config.rank, seed=config.seed,
        learning_rate_multiplier=config.learning_rate_multiplier,
        checkpoint_every=max(100, config.steps // 5), validation_prompts=[f"{n}, 3d style" for n in heldout_names[:4]],
    )
    result = train_lora(ft)
    train_seconds = time.perf_counter() - started

    classifier = train_style_classifier(
        [
            (base_root, [r for r in base_rows if r.extra["concept"] not in heldout]),
            (fluent_root, [r for r in fluent_rows if r.extra["concept"] not in heldout]),
        ],
        config.classifier_steps, config.seed,
    )
    pipe = GessoPipeline.load(config.base_model_dir)
    pipe.set_progress_bar_config(disable=True)
    prompts = [f"{n}, 3d style" for n in heldout_names for _ in range(config.seeds)]
    seeds = [k for _ in heldout_names for k in range(config.seeds)]
    targets = torch.tensor([label_index[n] for n in heldout_names for _ in range(config.seeds)])
    before = generate_batched(pipe, prompts, seeds, 20, 4.0, 32, "base model")
    attach_adapter(pipe.transformer, Path(result.adapter_dir), "demo")
    activate_adapter(pipe.transformer, "demo")
    after = generate_batched(pipe, prompts, seeds, 20, 4.0, 32, "with adapter")
    detach_adapter(pipe.transformer, "demo")

    reference = [r for r in fluent_rows if r.extra["concept"] in heldout and r.extra["label"] == r.extra["concept"]]
    ref_images = load_images(fluent_root, reference, 64)
    report = {
        "config": asdict(config),
        "train_images": len(subset),
        "heldout_concepts": len(heldout_names),
        "images_per_concept": config.seeds,
        "finetune_seconds": round(train_seconds, 1),
        "p3d_base": float(style_probability(classifier, before).mean()),
        "p3d_adapter": float(style_probability(classifier, after).mean()),
        "p3d_fluent_reference": float(style_probability(classifier, ref_images).mean()),
        "top5_base": float((ranks_of_targets(recogniser, before, targets) < 5).float().mean()),
        "top5_adapter": float((ranks_of_targets(recogniser, after, targets) < 5).float().mean()),
        "heldout_names": heldout_names,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    show = 8
    by_name = {r.extra["concept"]: r for r in reference}
    refs = load_images(fluent_root, [by_name[n] for n in heldout_names[:show] if n in by_name], 64)
    grid = torch.cat([before[: show * config.seeds : config.seeds], after[: show * config.seeds : config.seeds], refs])
    save_grid(grid, out / "comparison.png", columns=show)
    return report
