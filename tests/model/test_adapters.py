"""LoRA adapters: frozen base, exact save/load, switching on one loaded pipeline, bad folders."""

import json

import pytest
import torch

from gesso.model.adapters import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    DEFAULT_TARGETS,
    AdapterError,
    AdapterSpec,
    activate_adapter,
    active_adapter,
    add_lora,
    attach_adapter,
    attached_adapters,
    denoiser_fingerprint,
    detach_adapter,
    save_adapter,
)
from gesso.model.pipeline_gesso import GessoPipeline


def render(pipe, prompt="red circle"):
    return pipe(prompt, seed=3, num_inference_steps=2, output_type="pt")


def base_weights(transformer):
    """The base weights by their plain names (peft moves a wrapped layer's weight under `base_layer`)."""
    return {k.replace(".base_layer", ""): v.clone() for k, v in transformer.state_dict().items() if "lora_" not in k}


def trained_adapter(pipe, name, seed, tmp_dir, rank=4):
    """An adapter with random (non-zero) LoRA weights, saved to `tmp_dir/name`."""
    spec = AdapterSpec(rank=rank, alpha=rank, base_model="tiny", base_fingerprint=denoiser_fingerprint(pipe.transformer))
    params = add_lora(pipe.transformer, spec, name)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return save_adapter(tmp_dir / name, pipe.transformer, name, spec)


@pytest.fixture()
def pipe(tiny_pipeline_dir):
    return GessoPipeline.load(tiny_pipeline_dir)


def test_fresh_lora_freezes_the_base_and_starts_as_the_identity(pipe):
    before = render(pipe)
    params = add_lora(pipe.transformer, AdapterSpec(rank=4, alpha=4), "fresh")
    trainable = [n for n, p in pipe.transformer.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and ".fresh." in n for n in trainable)
    assert len(params) == len(trainable)
    # every target projection of every block got A and B matrices
    blocks = len(pipe.transformer.transformer_blocks)
    assert len(params) == blocks * len(DEFAULT_TARGETS) * 2
    assert torch.equal(render(pipe), before)  # B starts at zero


def test_saved_adapter_changes_the_output_and_reloads_identically(pipe, tiny_pipeline_dir, tmp_path):
    base = render(pipe)
    folder = trained_adapter(pipe, "style", seed=1, tmp_dir=tmp_path)
    adapted = render(pipe)
    assert not torch.equal(adapted, base)
    config = json.loads((folder / ADAPTER_CONFIG).read_text())
    assert config["rank"] == 4 and config["alpha"] == 4 and config["base_model"] == "tiny"
    assert config["targets"] == list(DEFAULT_TARGETS)
    assert sorted(p.name for p in folder.iterdir()) == sorted([ADAPTER_CONFIG, ADAPTER_WEIGHTS])

    fresh = GessoPipeline.load(tiny_pipeline_dir)
    assert torch.equal(render(fresh), base)
    spec = attach_adapter(fresh.transformer, folder, "loaded")
    assert spec.rank == 4
    assert torch.equal(render(fresh), adapted)
    assert not any(p.requires_grad for p in fresh.transformer.parameters())


def test_switching_adapters_never_reloads_or_changes_the_base(pipe, tiny_pipeline_dir, tmp_path):
    maker = GessoPipeline.load(tiny_pipeline_dir)
    a_dir = trained_adapter(maker, "a", seed=1, tmp_dir=tmp_path)
    a_out = render(maker)
    detach_adapter(maker.transformer, "a")
    b_dir = trained_adapter(maker, "b", seed=2, tmp_dir=tmp_path)
    b_out = render(maker)

    base_out, frozen = render(pipe), base_weights(pipe.transformer)
    attach_adapter(pipe.transformer, a_dir, "a")
    attach_adapter(pipe.transformer, b_dir, "b")
    assert attached_adapters(pipe.transformer) == ["a", "b"] and active_adapter(pipe.transformer) == "b"
    assert torch.equal(render(pipe), b_out)
    activate_adapter(pipe.transformer, "a")
    assert torch.equal(render(pipe), a_out)
    activate_adapter(pipe.transformer, None)
    assert active_adapter(pipe.transformer) is None
    assert torch.equal(render(pipe), base_out)
    activate_adapter(pipe.transformer, "b")
    detach_adapter(pipe.transformer, "b")
    assert active_adapter(pipe.transformer) is None and attached_adapters(pipe.transformer) == ["a"]
    assert torch.equal(render(pipe), base_out)
    after = base_weights(pipe.transformer)
    assert frozen.keys() == after.keys() and all(torch.equal(frozen[k], after[k]) for k in frozen)


def test_bad_adapter_folders_are_refused_and_leave_nothing_attached(pipe, tmp_path):
    good = trained_adapter(GessoPipeline.load(pipe.config._name_or_path), "good", seed=1, tmp_dir=tmp_path)
    with pytest.raises(AdapterError, match="not an adapter folder"):
        attach_adapter(pipe.transformer, tmp_path / "nowhere", "x")

    def variant(name, change):
        folder = tmp_path / name
        folder.mkdir()
        (folder / ADAPTER_WEIGHTS).write_bytes((good / ADAPTER_WEIGHTS).read_bytes())
        config = json.loads((good / ADAPTER_CONFIG).read_text())
        text = change(config)
        (folder / ADAPTER_CONFIG).write_text(text if isinstance(text, str) else json.dumps(config))
        return folder

    cases = {
        "not json": (variant("broken", lambda c: "{nope"), "not valid JSON"),
        "other base": (variant("other", lambda c: c.update(base_fingerprint="0" * 16)), "another base model"),
        "wrong rank": (variant("rank", lambda c: c.update(rank=8)), "do not fit"),
        "fewer targets": (variant("targets", lambda c: c.update(targets=["attn1.to_q"])), "do not fit"),
        "no format": (variant("format", lambda c: c.pop("format") and None), "not a gesso-lora"),
    }
    for label, (folder, message) in cases.items():
        with pytest.raises(AdapterError, match=message):
            attach_adapter(pipe.transformer, folder, "x")
        assert attached_adapters(pipe.transformer) == [], label
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / ADAPTER_CONFIG).write_text((good / ADAPTER_CONFIG).read_text())
    (tmp_path / "garbage" / ADAPTER_WEIGHTS).write_bytes(b"\x00" * 64)
    with pytest.raises(AdapterError, match="safetensors"):
        attach_adapter(pipe.transformer, tmp_path / "garbage", "x")
    with pytest.raises(AdapterError, match="name"):
        attach_adapter(pipe.transformer, good, "has.dot")
    attach_adapter(pipe.transformer, good, "x")
    with pytest.raises(AdapterError, match="already attached"):
        attach_adapter(pipe.transformer, good, "x")
