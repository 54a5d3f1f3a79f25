"""What a model makes is read from its configs on disk: the same answer as the loaded pipeline's."""

from __future__ import annotations

import pytest

from gesso.engine.model_registry import UnknownModel, folder_traits, model_traits


def test_sizes_from_disk_equal_the_loaded_pipelines(tiny_pipeline_dir, tiny_pipeline):
    traits = model_traits(tiny_pipeline_dir.parent, "tiny")
    assert traits.sizes == tiny_pipeline.supported_sizes() == [(32, 32)]
    assert traits.has_alpha is tiny_pipeline.has_alpha is False
    assert folder_traits(tiny_pipeline_dir) == traits


def test_an_rgba_model_reads_as_one_with_alpha(tmp_path):
    from gesso.model.assembly import assemble_pipeline

    assemble_pipeline("tiny-rgba", "tiny-rgba").save_pretrained(tmp_path / "rgba")
    assert folder_traits(tmp_path / "rgba") == model_traits(tmp_path, "rgba")
    assert folder_traits(tmp_path / "rgba").has_alpha and folder_traits(tmp_path / "rgba").sizes == [(64, 64)]


def test_only_registered_names_are_read(tiny_pipeline_dir):
    with pytest.raises(UnknownModel):
        model_traits(tiny_pipeline_dir.parent, "../tiny")
