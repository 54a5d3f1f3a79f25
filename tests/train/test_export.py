import torch
from safetensors import safe_open

from gesso.model.pipeline_gesso import GessoPipeline
from gesso.train.export import export_pipeline


def test_export_writes_fp16_safetensors_that_generate_like_the_original(tiny_pipeline_dir, tmp_path):
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "README.md").write_text("card")
    size = export_pipeline(tiny_pipeline_dir, tmp_path / "shipped")
    assert size > 0 and (tmp_path / "shipped" / "README.md").read_text() == "card"  # the card is kept
    for path in (tmp_path / "shipped").rglob("*.safetensors"):
        with safe_open(str(path), "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    original = GessoPipeline.load(tiny_pipeline_dir)
    shipped = GessoPipeline.load(tmp_path / "shipped")
    a = original("red circle", seed=1, num_inference_steps=3, output_type="pt").float()
    b = shipped("red circle", seed=1, num_inference_steps=3, output_type="pt").float()
    assert (a - b).abs().mean() < 2.0  # fp16 rounding only: within a couple of grey levels on average
