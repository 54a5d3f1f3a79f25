"""The one request type of an image job: what the route checks, the job row holds (as JSON,
sealed by the store), the worker claims and the pipeline call reads."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

JOB_KINDS = ("generate", "edit", "variation")
BACKGROUNDS = ("opaque", "transparent")


@dataclass(frozen=True)
class GenerationRequest:
    """Everything needed to make a request's images, and to make them again the same.

    `seed` is fixed when a job is accepted (the CLI fixes it before planning), so a job re-run
    after a crash reproduces its images; image k uses `seed + k`. `strength` and `has_mask`
    matter only for edits and variations (image-to-image; with a mask, inpainting). A variation
    has no prompt of its own (""). `output_format` and `output_compression` say how the
    delivered images are encoded; `partial_images` how many previews a stream receives.
    `background` is "opaque" (on white) or "transparent" (RGBA, from a model with alpha).
    `revised_prompt`, when set, is what the prompt-understanding step made of `prompt`: the model
    is given it instead (`model_prompt`), and the response says so.
    """

    prompt: str
    kind: str = "generate"
    model: str = ""
    n: int = 1
    size: tuple[int, int] = (64, 64)
    steps: int = 20
    guidance: float = 4.0
    seed: int | None = None
    negative: str = ""
    strength: float = 1.0
    has_mask: bool = False
    output_format: str = "png"
    output_compression: int = 100
    partial_images: int = 0
    background: str = "opaque"
    revised_prompt: str = ""

    @property
    def model_prompt(self) -> str:
        """The prompt the pipeline is given."""
        return self.revised_prompt or self.prompt

    def batch_key(self) -> str:
        """Requests with equal keys may share pipeline calls: same kind, model, size, steps and
        guidance, and for image inputs the same strength and masking."""
        image_part = [] if self.kind == "generate" else [self.strength, self.has_mask]
        size = f"{self.size[0]}x{self.size[1]}"
        return json.dumps([self.kind, self.model, size, self.steps, float(self.guidance), *image_part])

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GenerationRequest":
        """The request `to_json` wrote (a field it lacks takes its default)."""
        values = json.loads(text)
        if "size" in values:
            values["size"] = tuple(values["size"])
        return cls(**values)
