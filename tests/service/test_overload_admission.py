"""Admission by expected wait: once the work queued ahead would keep a synchronous request
waiting longer than `max_expected_wait_s`, it gets 429 with Retry-After at once; background
jobs still queue; `/metrics` shows the expected wait."""

from __future__ import annotations

import re

import pytest

from gesso.service.runtime.expected_wait import ExpectedWait
from tests.service.conftest import assert_openai_error, http

LOAD = {"prompt": "load", "n": 8, "steps": 50}


def test_expected_wait_is_images_ahead_times_a_moving_average_per_image():
    estimate = ExpectedWait(smoothing=0.5)
    assert estimate.seconds_for(100) == 0.0  # nothing measured: nothing is refused on a guess
    estimate.observe(images=8, seconds=4.0)
    assert estimate.seconds_for(10) == pytest.approx(5.0)
    estimate.observe(images=8, seconds=8.0)  # 1.0 s/image, averaged with 0.5
    assert estimate.seconds_per_image == pytest.approx(0.75)
    estimate.observe(images=0, seconds=3.0)  # an empty run teaches nothing
    assert estimate.seconds_per_image == pytest.approx(0.75)


def test_a_synchronous_request_behind_too_much_work_is_refused_at_once(start_server):
    busy_server = start_server(default_steps=2, max_expected_wait_s=1, shutdown_grace_s=1)
    key = busy_server.admin_key()
    with http(busy_server, key) as client:
        assert client.post("/v1/images/generations", json=LOAD).status_code == 200  # measures the worker
        for i in range(16):
            queued = client.post("/v1/images/generations", json={**LOAD, "prompt": f"load {i}", "background": True})
            assert queued.status_code == 202
        refused = client.post("/v1/images/generations", json={"prompt": "now please"})
        error = assert_openai_error(refused, 429)
        assert error["code"] == "server_overloaded" and int(refused.headers["retry-after"]) >= 1
        streamed = client.post("/v1/images/generations", json={"prompt": "stream", "stream": True})
        assert_openai_error(streamed, 429)  # a stream waits too: the same bound
        assert client.post("/v1/images/generations", json={"prompt": "later", "background": True}).status_code == 202
        metrics = client.get("/metrics").text
    expected = float(re.search(r"^gesso_queue_expected_wait_seconds (\S+)$", metrics, re.M).group(1))
    assert expected > 1
