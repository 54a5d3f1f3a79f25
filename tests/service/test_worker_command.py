"""`gesso worker` beside an API-only `gesso serve` on one machine (one SQLite file, one data
folder): the worker runs the jobs the server accepts, its previews reach the server's stream,
and SIGTERM ends it gracefully."""

from __future__ import annotations

import signal

from tests.service.conftest import sdk
from tests.service.server_process import WorkerProcess


def test_a_worker_process_runs_the_jobs_of_an_api_only_server(start_server, models_dir):
    server = start_server(embedded_worker="false", default_steps=4)
    (server.root / "worker").mkdir()
    worker = WorkerProcess(server.root / "worker", models_dir, "all", {"GESSO_DATA_DIR": str(server.data_dir)},
                           default_steps=4)
    worker.launch()
    try:
        worker.wait_ready()
        client = sdk(server, server.admin_key())
        assert len(client.images.generate(prompt="a red circle", n=2).data) == 2
        events = list(client.images.generate(prompt="a blue square", stream=True, partial_images=1))
        assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
        worker.process.send_signal(signal.SIGINT)
        assert worker.process.wait(60) == 0
    finally:
        worker.stop()
    assert '"worker started"' in worker.log() and '"worker stopped"' in worker.log()
    assert '"kinds": "all"' in worker.log()
