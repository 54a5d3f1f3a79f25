"""The load every server benchmark applies: concurrent clients on the official `openai` SDK."""

from __future__ import annotations

import statistics
import threading
import time

import openai


def sdk_client(base_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=600)


def drive(client: openai.OpenAI, clients: int, requests_per_client: int, model: str = "gesso-base") -> dict[str, float]:
    """`clients` threads each send `requests_per_client` generations (n=1, default settings);
    images/s over the whole run, and the p50 / p95 of one request's latency."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one_client(k: int) -> None:
        for i in range(requests_per_client):
            start = time.perf_counter()
            client.images.generate(model=model, prompt=f"red apple {k} {i}", n=1)
            with lock:
                latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    threads = [threading.Thread(target=one_client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "images_per_s": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "requests": len(latencies),
    }


def sequential_latency(client: openai.OpenAI, requests: int, model: str = "gesso-base") -> float:
    """Median seconds of one request at a time (no queueing, no batching)."""
    times = []
    for i in range(requests):
        start = time.perf_counter()
        client.images.generate(model=model, prompt=f"green leaf {i}", n=1)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
