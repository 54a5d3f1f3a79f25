"""`gesso eval`: prompt adherence and diversity of a model, measured with the recogniser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gesso.cli.errors import fail


def eval_cmd(
    model: Annotated[Optional[str], typer.Option(help="Model name or pipeline folder.")] = None,
    recogniser: Annotated[Path, typer.Option(help="Recogniser folder.")] = Path("models/gesso-recogniser"),
    paraphrases: Annotated[Path, typer.Option(help="YAML list of {prompt, concept}.")] = Path("configs/paraphrases.yaml"),
    limit: Annotated[Optional[int], typer.Option(help="Evaluate this many concepts (spread evenly).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Sampling steps.")] = None,
    guidance: Annotated[Optional[float], typer.Option(help="Guidance scale.")] = None,
    sampler: Annotated[Optional[str], typer.Option(help="euler or dpm.")] = None,
    reference: Annotated[Optional[Path], typer.Option(help="Corpus folder for the reference diversity.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the report as JSON.")] = None,
    card: Annotated[bool, typer.Option(help="Store the report in the model folder and regenerate its card.")] = False,
    revise_prompts: Annotated[bool, typer.Option(
        help="Put paraphrases through the model's prompt-understanding step, as the API does by default.")] = True,
) -> None:
    """Prompt adherence (recogniser top-1/top-5 over all concepts, paraphrases) and diversity."""
    import json

    from gesso.engine.device import pick_device
    from gesso.engine.model_registry import UnknownModel, resolve_model
    from gesso.engine.pipeline_cache import pipeline_cache_for
    from gesso.model.prompt_vocabulary import load_vocabulary, revise
    from gesso.model.samplers import SAMPLERS, unknown_sampler
    from gesso.model.text_encoder import MiniLMEmbedder
    from gesso.settings import get_settings
    from gesso.train.evaluation import ParaphraseError, evaluate, reference_set
    from gesso.train.recogniser_net import load_recogniser

    settings = get_settings()
    sampler = sampler or settings.default_sampler
    if sampler not in SAMPLERS:
        fail(unknown_sampler(sampler))
    try:
        model_dir = resolve_model(model or settings.default_model, settings.models_dir)
    except UnknownModel as exc:
        fail(str(exc))
    if not (recogniser / "model.safetensors").is_file():
        fail(f"no recogniser in {recogniser} (train one with `gesso train recogniser`)")
    if not paraphrases.is_file():
        fail(f"paraphrase file {paraphrases} not found")
    if card and not (reference and (reference / "metadata.jsonl").is_file()):
        fail("--card needs --reference pointing at the training corpus (its counts go in the card)")
    pipe = pipeline_cache_for(settings, pick_device(settings.device)).get(model_dir, sampler)
    revise_prompt = None
    vocabulary = load_vocabulary(model_dir) if revise_prompts else None
    if vocabulary is not None:
        embed = MiniLMEmbedder(max_tokens=64)
        revise_prompt = lambda prompt: revise(prompt, vocabulary, embed)  # noqa: E731
    net, labels = load_recogniser(recogniser)
    ref = reference_set(reference, labels) if reference else None
    try:
        report = evaluate(
            pipe, net, labels, paraphrases,
            steps=steps or settings.default_steps,
            guidance=settings.default_guidance if guidance is None else guidance,
            limit=limit, reference_images=ref, revise_prompt=revise_prompt,
        )
    except ParaphraseError as exc:
        fail(str(exc))
    for key, value in report.as_dict().items():
        typer.echo(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    if json_out:
        json_out.write_text(json.dumps(report.as_dict(), indent=2))
    if card:
        from gesso.train.model_card import refresh_model_card

        typer.echo(str(refresh_model_card(model_dir, reference, report.as_dict())))
