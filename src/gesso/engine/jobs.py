"""What a queued image job holds: its parameters (seed already fixed), its inputs, its outputs.

The engine knows jobs only by id; tenants, keys and storage belong to the layers above.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from gesso.engine.batching import batch_key
from gesso.engine.generation_request import GenerationRequest

JOB_KINDS = ("generate", "edit", "variation")
OUTPUT_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True)
class ImageJobSpec:
    """Everything needed to run a job again and get the same images.

    `seed` is fixed when the job is accepted, so a job re-run after a crash reproduces its
    images; image k uses `seed + k`. `strength` and `has_mask` matter only for edits and
    variations (image-to-image; with a mask, inpainting).
    """

    kind: str
    model: str
    prompt: str
    n: int
    size: tuple[int, int]
    steps: int
    guidance: float
    seed: int
    negative: str = ""
    strength: float = 1.0
    has_mask: bool = False
    output_format: str = "png"
    output_compression: int = 100
    partial_images: int = 0

    def generation_request(self, ident: str = "") -> GenerationRequest:
        return GenerationRequest(
            prompt=self.prompt,
            n=self.n,
            seed=self.seed,
            steps=self.steps,
            guidance=self.guidance,
            size=self.size,
            negative=self.negative,
            id=ident,
        )

    def batch_key(self) -> str:
        """Jobs with equal keys may share pipeline calls: same kind, model, size, steps and
        guidance (the engine's `batch_key`), and for image inputs the same strength and masking."""
        steps, guidance, size = batch_key(self.generation_request())
        image_part = [] if self.kind == "generate" else [self.strength, self.has_mask]
        return json.dumps([self.kind, self.model, f"{size[0]}x{size[1]}", steps, guidance, *image_part])

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ImageJobSpec":
        fields = json.loads(text)
        fields["size"] = tuple(fields["size"])
        return cls(**fields)


@dataclass(frozen=True)
class ClaimedJob:
    """A job the worker now runs; `image`/`mask` are normalised PNG bytes for edits."""

    id: str
    spec: ImageJobSpec
    image: bytes | None = None
    mask: bytes | None = None
    request_id: str = ""


@dataclass(frozen=True)
class FinishedImage:
    """One encoded output image of a job."""

    index: int
    seed: int
    data: bytes
    content_type: str
    width: int
    height: int
