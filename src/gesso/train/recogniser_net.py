"""The recogniser: a small residual CNN that names the emoji concept in a 32x32 image.

It is trained on the corpus only, independently of the denoiser, and used to measure prompt
adherence of generated images (`gesso eval`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

INPUT_SIZE = 32


@dataclass(frozen=True)
class RecogniserConfig:
    num_classes: int
    widths: tuple[int, ...] = (32, 64, 128)
    embed_dim: int = 192


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class Recogniser(nn.Module):
    def __init__(self, config: RecogniserConfig):
        super().__init__()
        self.config = config
        w = config.widths
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU())
        blocks, c = [], w[0]
        for i, width in enumerate(w):
            blocks += [_Block(c, width, 1 if i == 0 else 2), _Block(width, width, 1)]
            c = width
        self.blocks = nn.Sequential(*blocks)
        self.embed = nn.Linear(c, config.embed_dim)
        self.head = nn.Linear(config.embed_dim, config.num_classes)

    def embedding(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, embed_dim) features (resized to 32x32 first)."""
        if images.shape[-1] != INPUT_SIZE:
            images = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="area")
        x = self.blocks(self.stem(images))  # (B, C, 8, 8)
        return F.relu(self.embed(x.mean(dim=(2, 3))))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(images))  # (B, num_classes) logits


def save_recogniser(model: Recogniser, labels: list[dict], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().half().contiguous() if v.is_floating_point() else v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, directory / "model.safetensors")
    (directory / "config.json").write_text(json.dumps(asdict(model.config), indent=2))
    (directory / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=0))


def load_recogniser(directory: Path) -> tuple[Recogniser, list[dict]]:
    raw = json.loads((directory / "config.json").read_text())
    raw["widths"] = tuple(raw["widths"])
    model = Recogniser(RecogniserConfig(**raw))
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(directory / "model.safetensors").items()}
    model.load_state_dict(state)
    labels = json.loads((directory / "labels.json").read_text(encoding="utf-8"))
    return model.eval(), labels
