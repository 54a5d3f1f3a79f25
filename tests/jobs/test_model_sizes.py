"""Sizes are checked from a model's configs on disk: the same answer as the loaded pipeline's."""

from __future__ import annotations

import pytest

from gesso.engine.model_registry import UnknownModel, folder_sizes, model_sizes


def test_sizes_from_disk_equal_the_loaded_pipelines(tiny_pipeline_dir, tiny_pipeline):
    assert model_sizes(tiny_pipeline_dir.parent, "tiny") == tiny_pipeline.supported_sizes() == [(32, 32)]
    assert folder_sizes(tiny_pipeline_dir) == [(32, 32)]


def test_only_registered_names_are_read(tiny_pipeline_dir):
    with pytest.raises(UnknownModel):
        model_sizes(tiny_pipeline_dir.parent, "../tiny")
