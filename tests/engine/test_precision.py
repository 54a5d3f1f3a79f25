"""The precision plan follows the hardware: fake each CPU capability and check the choice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from gesso.engine.pipeline_cache import PipelineCache
from gesso.engine.precision import (
    cached_calibration,
    denoiser_forward,
    measure_bf16_threshold,
    plan_precision,
)
from gesso.model.cpu_features import cpu_flags, training_precision

CPU = torch.device("cpu")
AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma"})
AVX512_BF16 = AVX2_ONLY | {"avx512f", "avx512_bf16"}
AMX = AVX2_ONLY | {"avx512f", "amx_tile", "amx_bf16"}


def never_called() -> int | None:
    raise AssertionError("calibration must not run here")


def test_cpu_without_native_bf16_runs_fp32_at_every_batch_without_calibrating():
    plan = plan_precision(CPU, "auto", AVX2_ONLY, never_called)
    assert plan.bf16_from_batch is None and plan.weights == torch.float32
    assert "without native bf16" in plan.reason


@pytest.mark.parametrize("flags", [AVX512_BF16, AMX], ids=["avx512-bf16", "amx"])
def test_cpu_with_native_bf16_uses_the_measured_threshold(flags):
    assert plan_precision(CPU, "auto", flags, lambda: 8).bf16_from_batch == 8
    assert plan_precision(CPU, "auto", flags, lambda: None).bf16_from_batch is None


def test_the_override_setting_wins_over_the_hardware():
    assert plan_precision(CPU, "fp32", AMX, never_called).bf16_from_batch is None
    assert plan_precision(CPU, "bf16", AVX2_ONLY, never_called).bf16_from_batch == 1


def test_cuda_takes_half_precision_weights():
    plan = plan_precision(torch.device("cuda"), "auto", AVX2_ONLY, never_called)
    assert plan.weights == torch.float16 and plan.bf16_from_batch is None


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="cpu_precision"):
        plan_precision(CPU, "fp8", AMX, never_called)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_threshold_is_the_smallest_batch_from_which_bf16_wins_everywhere_above():
    # a fake forward on a fake clock: bf16 loses at 2, wins at 4 and 8, loses at 16, wins at 32
    costs = {2: (1, 2), 4: (2, 1), 8: (4, 2), 16: (8, 9), 32: (16, 8)}  # (fp32, bf16) seconds
    now = [0.0]

    def forward(batch: int) -> None:
        now[0] += costs[batch][torch.is_autocast_enabled("cpu")]

    assert measure_bf16_threshold(forward, repeats=1, clock=lambda: now[0]) == 32
    costs[16] = (8, 4)
    assert measure_bf16_threshold(forward, repeats=1, clock=lambda: now[0]) == 4
    costs[32] = (16, 16)  # a tie keeps fp32
    assert measure_bf16_threshold(forward, repeats=1, clock=lambda: now[0]) is None


def test_calibration_runs_once_per_machine_and_model(tmp_path):
    cache = tmp_path / "cache" / "precision.json"
    calls = []
    assert cached_calibration(cache, "k", lambda: calls.append(1) or 8) == 8
    assert cached_calibration(cache, "k", lambda: calls.append(1) or 16) == 8
    assert calls == [1] and json.loads(cache.read_text()) == {"k": 8}
    cache.write_text("not json")  # a damaged cache is measured again, never trusted
    assert cached_calibration(cache, "k", lambda: 4) == 4


def test_calibration_forward_runs_the_real_denoiser(tiny_pipeline):
    out = denoiser_forward(tiny_pipeline.transformer)(2)[0]
    assert out.shape[0] == 2
    threshold = measure_bf16_threshold(denoiser_forward(tiny_pipeline.transformer), batches=(2, 4), repeats=1)
    assert threshold in (None, 2, 4)


def test_the_cache_applies_the_plan_to_every_pipeline_it_loads(tiny_pipeline_dir, tmp_path):
    forced = PipelineCache(CPU, cpu_precision="bf16", calibration_file=tmp_path / "p.json").get(tiny_pipeline_dir)
    assert forced.bf16_from_batch == 1
    plain = PipelineCache(CPU, cpu_precision="fp32").get(tiny_pipeline_dir, "dpm")
    assert plain.bf16_from_batch is None


def test_the_calibration_key_is_the_same_in_every_process(tiny_pipeline_dir):
    script = (
        "from gesso.model.pipeline_gesso import GessoPipeline\n"
        "from gesso.engine.precision import calibration_key\n"
        f"print(calibration_key(GessoPipeline.load({str(tiny_pipeline_dir)!r}).transformer, frozenset({{'avx2'}})))\n"
    )
    keys = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("setting", "flags", "expected"),
    [("auto", {"avx2"}, "no"), ("auto", {"avx2", "avx512_bf16"}, "bf16"), ("auto", {"amx_bf16"}, "bf16"),
     ("bf16", {"avx2"}, "bf16"), ("no", {"amx_bf16"}, "no")],
)
def test_training_precision_auto_follows_the_cpu_and_an_explicit_setting_wins(setting, flags, expected, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_precision(setting, frozenset(flags)) == expected
