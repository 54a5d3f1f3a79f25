"""The model card is generated from the files beside the weights, never edited by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gesso.train.export import export_pipeline
from gesso.train.model_card import refresh_model_card

REPORT = {
    "concepts": 16, "top1": 0.25, "top5": 0.625, "paraphrases": 2, "paraphrase_top1": 0.0,
    "paraphrase_top5": 0.5, "chance_top5": 0.3125, "diversity": 0.1, "reference_diversity": 0.05,
    "sampler": "dpm", "steps": 4, "guidance": 3.0,
}


def test_card_reads_compute_notes_and_eval(tiny_pipeline_dir: Path, shape_dataset: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_pipeline_dir, model_dir)
    (model_dir / "compute.json").write_text(json.dumps({"base": 600.0, "base_stage2": 120.0, "export": 6.0}))
    (model_dir / "NOTES.md").write_text("Trained in two legs.\n")

    card = refresh_model_card(model_dir, shape_dataset, REPORT).read_text()

    assert json.loads((model_dir / "eval.json").read_text()) == REPORT
    assert "| base | `configs/base.yaml` | 10.0 min |" in card
    assert "| base_stage2 | `configs/base-stage2.yaml` | 2.0 min |" in card
    assert "| export | - | 0.1 min |" in card
    assert "`GessoTransformer2DModel` (diffusers PixArt)" in card and "pooled MiniLM sentence embedding" in card
    assert "| top-5 accuracy | 62.5% |" in card
    assert "sampler dpm, 4 steps, guidance 3.0" in card
    assert "16 images of 16 emoji concepts" in card
    assert card.rstrip().endswith("Trained in two legs.")


def test_export_keeps_the_card_inputs(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name, text in {"README.md": "card", "eval.json": "{}", "compute.json": "{}", "NOTES.md": "n"}.items():
        (shipped / name).write_text(text)

    export_pipeline(tiny_pipeline_dir, shipped)

    assert (shipped / "NOTES.md").read_text() == "n" and (shipped / "compute.json").is_file()
    assert (shipped / "model_index.json").is_file()
