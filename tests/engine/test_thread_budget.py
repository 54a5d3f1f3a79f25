"""The thread budget fits the cores and splits them among the work running at once."""

from __future__ import annotations

from gesso.engine.thread_budget import ThreadBudget, share, total_threads


def test_total_follows_setting_then_environment_then_cores(monkeypatch):
    assert total_threads(3, {"OMP_NUM_THREADS": "1"}) == 3
    assert total_threads(None, {"OMP_NUM_THREADS": "2"}) == 2
    monkeypatch.setattr("gesso.engine.thread_budget.available_cores", lambda: 16)
    assert total_threads(None, {}) == 16
    assert total_threads(None, {"OMP_NUM_THREADS": "٣"}) == 16  # not an ASCII number: ignored


def test_share_never_drops_below_one_thread():
    assert [share(8, n) for n in (0, 1, 2, 3)] == [8, 8, 4, 2]
    assert share(2, 4) == 1


def test_generation_and_a_fine_tune_together_never_oversubscribe():
    applied: list[int] = []
    budget = ThreadBudget(8, apply=applied.append)
    with budget.running("generation") as alone:
        assert alone == 8
        with budget.running("fine-tune") as together:
            assert together == 4
            assert applied[-1] * 2 <= budget.total
        assert applied[-1] == 8  # the fine-tune ended: generation gets every core back
    assert applied == [8, 8, 4, 8, 8]


def test_the_image_and_fine_tune_workers_of_a_process_share_one_budget():
    from gesso.engine.finetune_worker import FineTuneWorker
    from gesso.engine.progress_events import JobEvents
    from gesso.engine.worker import EmbeddedWorker

    images = EmbeddedWorker(queue=None, pipelines=lambda name: None, events=JobEvents(), max_batch_images=1)
    fine_tunes = FineTuneWorker(queue=None)
    assert images.threads is fine_tunes.threads
