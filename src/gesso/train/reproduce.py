"""Reproduce the shipped base model from scratch: corpus -> autoencoder -> denoiser (stage 1, then
stage 2 warm-started from it) -> export -> recogniser. Each stage resumes from its checkpoints
when re-run."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gesso.train.run_config import (
    AutoencoderRunConfig,
    BaseRunConfig,
    RecogniserRunConfig,
    load_run_config,
)


def reproduce_base_model(configs: Path, models_dir: Path, cache: Path) -> dict[str, float]:
    """Run every stage; return wall-clock seconds per stage (also written to the model's compute.json)."""
    from gesso.data.emoji_corpus import build_emoji_corpus
    from gesso.model.text_encoder import MiniLMEmbedder
    from gesso.train.autoencoder_loop import train_autoencoder
    from gesso.train.base_loop import train_base
    from gesso.train.export import export_pipeline
    from gesso.train.recogniser_loop import train_recogniser
    from gesso.train.vocabulary import write_vocabulary

    ae_cfg = load_run_config(configs / "autoencoder.yaml", AutoencoderRunConfig)
    base_cfg = load_run_config(configs / "base.yaml", BaseRunConfig)
    stage2_cfg = load_run_config(configs / "base-stage2.yaml", BaseRunConfig)
    rec_cfg = load_run_config(configs / "recogniser.yaml", RecogniserRunConfig)
    seconds: dict[str, float] = {}

    def timed(name: str, fn):
        start = time.perf_counter()
        result = fn()
        seconds[name] = round(time.perf_counter() - start, 1)
        return result

    corpus = Path(base_cfg.data_dir)
    if not (corpus / "metadata.jsonl").is_file():
        timed("corpus", lambda: build_emoji_corpus(corpus, cache))
    timed("autoencoder", lambda: train_autoencoder(ae_cfg))
    timed("base", lambda: train_base(base_cfg))
    final = timed("base_stage2", lambda: train_base(stage2_cfg))
    timed("export", lambda: export_pipeline(final, models_dir / "gesso-base"))
    # The shipped vocabulary took its words from the 128 px corpus too (richer keywords), when built.
    richer = [folder for folder in (Path("corpus/base2"),) if (folder / "metadata.jsonl").is_file()]
    timed("vocabulary", lambda: write_vocabulary(models_dir / "gesso-base", corpus, MiniLMEmbedder(max_tokens=64), richer))
    timed("recogniser", lambda: train_recogniser(rec_cfg))
    # The card reads compute.json beside the weights (`gesso eval --card` then fills in the rest).
    (models_dir / "gesso-base" / "compute.json").write_text(json.dumps(seconds, indent=2))
    return seconds
