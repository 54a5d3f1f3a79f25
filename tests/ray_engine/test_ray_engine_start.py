"""Bad cluster settings stop `gesso worker --engine ray` at start with one line on stderr and
exit status 2: an unreachable head, and replicas asking for resources the cluster lacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.real_servers import free_port
from tests.service.server_process import gesso_environment, install_test_model


def run_worker(tmp_path: Path, tiny_pipeline_dir: Path, **settings: object) -> subprocess.CompletedProcess:
    models = tmp_path / "models"
    install_test_model(tiny_pipeline_dir, models)
    env = gesso_environment(tmp_path / "data", models, None, {"worker_kind": "images", **settings})
    return subprocess.run([sys.executable, "-m", "gesso.cli", "worker", "--engine", "ray"], env=env,
                          capture_output=True, text=True, timeout=180)


def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path, tiny_pipeline_dir):
    done = run_worker(tmp_path, tiny_pipeline_dir, ray_address=f"127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot reach the Ray cluster at 127.0.0.1:")
    assert done.stderr.count("\n") == 1


def test_replicas_asking_for_missing_gpus_are_one_line_and_exit_2(tmp_path, tiny_pipeline_dir, ray_cluster):
    done = run_worker(tmp_path, tiny_pipeline_dir, ray_address=ray_cluster.address, ray_serve_replica_gpus=1)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr == "error: the Ray cluster lacks the resources asked: 1 GPU (the cluster has 0)\n"
