"""A local Ray cluster started by the tests themselves, once per test session, on loopback.

`ray start --head` from the PyPI package (in requirements.lock) with 2 CPUs, no dashboard, no
usage reporting, and a short temporary folder (Ray's socket paths must stay under 108 bytes).
Tests connect with `ray.init(address=cluster.address)`; Gesso connects through `GESSO_RAY_ADDRESS`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.real_servers import free_port


@dataclass
class RayCluster:
    root: Path
    port: int
    num_cpus: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        return {"GESSO_RAY_ADDRESS": self.address, "RAY_ADDRESS": self.address, "RAY_AUTH_MODE": "disabled"}

    def stop(self) -> None:
        subprocess.run([str(ray_binary()), "stop", "--force"], capture_output=True, check=False, env=_ray_env())
        shutil.rmtree(self.root, ignore_errors=True)


def ray_binary() -> Path:
    local = Path(sys.executable).parent / "ray"
    if local.exists():
        return local
    found = shutil.which("ray")
    if found is None:
        raise RuntimeError("Ray is not installed (PyPI package ray, in requirements.lock)")
    return Path(found)


def _ray_env() -> dict[str, str]:
    env = dict(os.environ)
    # a new local cluster turns token authentication on by default and keeps the token in
    # ~/.ray, shared by every cluster of this user; the loopback test cluster goes without
    env.update({"RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_DOCKER_CPU_WARNING": "1", "RAY_AUTH_MODE": "disabled"})
    return env


def start_ray_cluster(num_cpus: int = 2) -> RayCluster:
    os.environ["RAY_AUTH_MODE"] = "disabled"  # this test process's drivers, like the cluster
    root = Path(tempfile.mkdtemp(prefix="rg-", dir="/tmp"))
    port = free_port()
    started = subprocess.run(
        [
            str(ray_binary()), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
            f"--num-cpus={num_cpus}", "--num-gpus=0", "--include-dashboard=false",
            "--disable-usage-stats", f"--temp-dir={root}",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=_ray_env(),
    )  # fmt: skip
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"ray start failed: {started.stderr[-2000:]}")
    return RayCluster(root, port, num_cpus)
