"""Joining a Ray cluster: one clear sentence for a bad address, and every worker process of the
cluster runs Gesso's offline switches and egress guard before any task code."""

import json

import pytest
import ray

from gesso.governance.ray_runtime import (
    ALLOWED_ENV,
    RayUnavailable,
    connect,
    require_resources,
    worker_runtime_env,
)
from gesso.settings import Settings
from tests.real_servers import free_port


def test_an_unreachable_head_is_one_clear_sentence():
    with pytest.raises(RayUnavailable, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:\d+"):
        connect(Settings(ray_address=f"127.0.0.1:{free_port()}"))


@pytest.mark.parametrize("address", ["no-port", "host:http", ""])
def test_a_malformed_or_missing_address_is_refused(address):
    with pytest.raises(RayUnavailable, match="GESSO_RAY_ADDRESS"):
        connect(Settings(ray_address=address or None))


def test_the_runtime_env_carries_offline_switches_and_the_allow_list(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://10.1.2.3:8333")
    settings = Settings(ray_address="10.0.0.5:6379", database_url="postgresql+psycopg://u@db.internal:5432/g")
    env = worker_runtime_env(settings)
    variables = env["env_vars"]
    assert variables["HF_HUB_OFFLINE"] == "1" and variables["RAY_USAGE_STATS_ENABLED"] == "0"
    allowed = json.loads(variables[ALLOWED_ENV])
    assert {"10.0.0.5:6379", "db.internal:5432", "10.1.2.3:8333"} <= set(allowed)
    assert env["worker_process_setup_hook"].endswith("setup_worker_process")


def test_cluster_workers_are_offline_and_guarded(ray_cluster):
    connect(Settings(ray_address=ray_cluster.address))
    try:
        require_resources(cpus=1)
        with pytest.raises(RayUnavailable, match="lacks the resources asked: 4 GPU"):
            require_resources(gpus=4)

        @ray.remote(num_cpus=0.1)
        def outside_reach() -> tuple[str | None, str]:
            import os
            import socket

            try:
                socket.create_connection(("203.0.113.9", 443), timeout=2)
                outcome = "connected"
            except PermissionError as error:
                outcome = type(error).__name__
            except OSError as error:
                outcome = f"network: {error}"
            return os.environ.get("HF_HUB_OFFLINE"), outcome

        assert ray.get(outside_reach.remote(), timeout=120) == ("1", "EgressBlocked")
    finally:
        ray.shutdown()
