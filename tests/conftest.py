"""Shared fixtures: tiny real components built in seconds (never the shipped weights)."""

from __future__ import annotations

import os

# Tiny models gain nothing from a second thread; one thread keeps tests (and the servers they
# start) from fighting a training run for the machine's two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

COLOURS = ["red", "green", "blue", "orange", "purple", "black", "yellow", "brown"]
SHAPES = ["circle", "square"]


def make_shape_image(colour: str, shape: str, size: int = 32) -> Image.Image:
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    box = (size // 6, size // 6, size - size // 6, size - size // 6)
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=colour)
    return image


def png_bytes(size: tuple[int, int] = (32, 32), colour: str | tuple = "red", mode: str = "RGB") -> bytes:
    """A plain one-colour PNG, the smallest valid upload."""
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def write_shape_dataset(root: Path, size: int = 32) -> Path:
    """16 images of coloured shapes with captions and concept fields, in Gesso's format."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for colour in COLOURS:
        for shape in SHAPES:
            name = f"{colour}-{shape}.png"
            make_shape_image(colour, shape, size).save(root / name)
            concept = f"{colour} {shape}"
            lines.append(
                {
                    "file_name": name,
                    "text": f"{concept}, flat style",
                    "concept": concept,
                    "concept_id": f"{colour}-{shape}",
                    "label": concept,
                    "tags": [colour, shape],
                    "style": "test",
                }
            )
    (root / "metadata.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return root


@pytest.fixture(scope="session")
def shape_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shape_dataset(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny pipeline (32x32 images) saved in the diffusers layout."""
    from gesso.model.assembly import assemble_pipeline

    torch.manual_seed(0)
    pipe = assemble_pipeline("tiny", "tiny")
    path = tmp_path_factory.mktemp("models") / "tiny"
    pipe.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_pipeline_dir: Path):
    from gesso.model.pipeline_gesso import GessoPipeline

    return GessoPipeline.load(tiny_pipeline_dir)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL cluster for the whole session (see tests/real_servers.py)."""
    import tempfile

    from tests.real_servers import start_postgres

    server = start_postgres(Path(tempfile.mkdtemp(prefix="gesso-pg-")))
    yield server
    server.stop()


@pytest.fixture()
def postgres_url(postgres_server) -> str:
    """A fresh empty database on the session's PostgreSQL."""
    return postgres_server.create_database()


@pytest.fixture(scope="session")
def seaweed_server():
    """One SeaweedFS (S3 gateway on loopback) for the whole session."""
    import tempfile

    from tests.real_servers import start_seaweedfs

    server = start_seaweedfs(Path(tempfile.mkdtemp(prefix="gesso-s3-")))
    yield server
    server.stop()


@pytest.fixture()
def s3_env(seaweed_server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """boto3's standard variables pointing at the session's SeaweedFS, set for this test."""
    env = seaweed_server.environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (2 CPUs, loopback) for the whole session (see tests/ray_cluster.py)."""
    from tests.ray_cluster import start_ray_cluster

    cluster = start_ray_cluster()
    yield cluster
    cluster.stop()
