"""LoRA fine-tuning: exact resume after a pause or a kill, cancel, events, frozen base, settings."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gesso.model.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS, attach_adapter, attached_adapters
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.train.lora_loop import CANCEL, PAUSE, check_finetune_config, train_lora
from gesso.train.run_config import FinetuneRunConfig


def tiny_config(data: Path, base: Path, out: Path, **changes) -> FinetuneRunConfig:
    settings = dict(
        data_dir=str(data), base_model="tiny", base_model_dir=str(base), out_dir=str(out),
        batch_size=4, max_steps=6, checkpoint_every=2, log_every=1, rank=4, learning_rate=5e-3,
        trigger="shp", mixed_precision="no", validation_prompts=["shp, red circle", "shp, blue square"],
        sample_steps=2,
    )
    return FinetuneRunConfig(**(settings | changes))


def stop_before_step(n: int, action: str):
    """A control callback that asks for `action` before step n + 1 (after n steps ran)."""
    calls = {"count": 0}

    def control():
        calls["count"] += 1
        return action if calls["count"] == n + 1 else None

    return control


class Killed(Exception):
    pass


def test_pause_and_kill_both_resume_exactly(shape_dataset, tiny_pipeline_dir, tmp_path):
    def config(out):
        return tiny_config(shape_dataset, tiny_pipeline_dir, out, checkpoint_every=4, validation_prompts=[])

    straight = train_lora(config(tmp_path / "a"), progress=False)
    assert straight.status == "succeeded" and straight.step == 6

    interrupted = config(tmp_path / "b")
    paused = train_lora(interrupted, control=stop_before_step(3, PAUSE), progress=False)
    assert (paused.status, paused.step) == ("paused", 3)
    assert [p.name for p in paused.checkpoints] == ["step-0000003"]  # the pause wrote one

    def die_at_step_5(event):  # killed after the step-4 checkpoint: step 5 runs again
        if event.kind == "metrics" and event.step == 5:
            raise Killed
    with pytest.raises(Killed):
        train_lora(interrupted, on_event=die_at_step_5, progress=False)
    events = []
    resumed = train_lora(interrupted, on_event=events.append, progress=False)
    assert events[0].kind == "started" and events[0].step == 4
    assert resumed.status == "succeeded"

    a = load_file(straight.adapter_dir / ADAPTER_WEIGHTS)
    b = load_file(resumed.adapter_dir / ADAPTER_WEIGHTS)
    assert a and all("lora_" in k for k in a) and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resume is not bit-exact"
    # and training did move the adapter (LoRA B starts at zero)
    assert any(k.endswith("lora_B.weight") and a[k].abs().sum() > 0 for k in a)


def test_training_leaves_the_base_untouched_and_the_adapter_changes_the_output(
    shape_dataset, tiny_pipeline_dir, tmp_path
):
    pipe = GessoPipeline.load(tiny_pipeline_dir)
    base = {k: v.clone() for k, v in pipe.transformer.state_dict().items()}
    before = pipe("shp, red circle", seed=1, num_inference_steps=2, output_type="pt")
    events = []
    cfg = tiny_config(shape_dataset, tiny_pipeline_dir, tmp_path / "run", max_steps=4,
                      validation_data_dir=str(shape_dataset), validation_prompts=["shp, red circle"])
    result = train_lora(cfg, on_event=events.append, progress=False, pipe=pipe)

    assert attached_adapters(pipe.transformer) == []
    after = {k.replace(".base_layer", ""): v for k, v in pipe.transformer.state_dict().items() if "lora_" not in k}
    assert base.keys() == after.keys() and all(torch.equal(base[k], after[k]) for k in base)
    assert torch.equal(pipe("shp, red circle", seed=1, num_inference_steps=2, output_type="pt"), before)

    kinds = [e.kind for e in events]
    assert kinds == ["started", "metrics", "metrics", "checkpoint", "metrics", "metrics", "checkpoint", "succeeded"]
    assert all(e.loss is not None and e.loss > 0 for e in events if e.kind == "metrics")
    checkpoints = [e for e in events if e.kind == "checkpoint"]
    assert all(e.checkpoint.is_dir() and e.samples.is_file() and e.valid_loss > 0 for e in checkpoints)
    assert events[-1].adapter == result.adapter_dir
    config = json.loads((result.adapter_dir / ADAPTER_CONFIG).read_text())
    assert config["rank"] == 4 and config["base_model"] == "tiny" and config["metadata"]["trigger"] == "shp"

    # a checkpoint is itself a usable adapter, and the final adapter changes the output
    attach_adapter(pipe.transformer, checkpoints[0].checkpoint, "ckpt")
    attach_adapter(pipe.transformer, result.adapter_dir, "final")
    assert not torch.equal(pipe("shp, red circle", seed=1, num_inference_steps=2, output_type="pt"), before)


def test_cancel_mid_run_stops_without_an_adapter(shape_dataset, tiny_pipeline_dir, tmp_path):
    events = []
    cfg = tiny_config(shape_dataset, tiny_pipeline_dir, tmp_path / "run", validation_prompts=[])
    result = train_lora(cfg, on_event=events.append, control=stop_before_step(3, CANCEL), progress=False)
    assert (result.status, result.step, result.adapter_dir) == ("cancelled", 3, None)
    assert events[-1].kind == "cancelled" and not (tmp_path / "run" / "adapter").exists()
    assert [p.name for p in result.checkpoints] == ["step-0000002"]


def test_bad_settings_missing_captions_and_a_changed_resume_are_refused(
    shape_dataset, tiny_pipeline_dir, tmp_path
):
    for change, message in [
        ({"n_epochs": 0}, "n_epochs"), ({"batch_size": 0}, "batch_size"), ({"rank": 0}, "rank"),
        ({"learning_rate_multiplier": 0}, "learning_rate_multiplier"), ({"mixed_precision": "fp16"}, "mixed_precision"),
        ({"trigger": "two\nlines"}, "trigger"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_finetune_config(tiny_config(shape_dataset, tiny_pipeline_dir, tmp_path, **change))

    uncaptioned = tmp_path / "uncaptioned"
    uncaptioned.mkdir()
    rows = [json.loads(line) for line in (shape_dataset / "metadata.jsonl").read_text().splitlines()][:4]
    for row in rows:
        (uncaptioned / row["file_name"]).write_bytes((shape_dataset / row["file_name"]).read_bytes())
    (uncaptioned / "metadata.jsonl").write_text("\n".join(json.dumps({"file_name": r["file_name"]}) for r in rows))
    with pytest.raises(ValueError, match="no caption"):
        train_lora(tiny_config(uncaptioned, tiny_pipeline_dir, tmp_path / "x", trigger=""), progress=False)
    out = tmp_path / "y"
    done = train_lora(tiny_config(uncaptioned, tiny_pipeline_dir, out, max_steps=2, validation_prompts=[]), progress=False)
    assert done.status == "succeeded"
    with pytest.raises(ValueError, match="other settings.*rank"):
        train_lora(tiny_config(uncaptioned, tiny_pipeline_dir, out, max_steps=2, rank=8), progress=False)
