"""The fine-tune worker: a thread that runs one LoRA fine-tune at a time from a durable queue, in
this process or, given `training` (Ray Train: `ray_finetune_training.py`), on a cluster.

It knows jobs only by id and run config; which job comes next (fairly across tenants), where the
data lives and how events are stored belong to the queue that implements `FineTuneQueue`
(`jobs/fine_tunes.py`). Any number of these workers, in any number of processes, share one
queue: each holds its job under a lease that a heartbeat thread renews while it trains. Each
job trains on its own freshly loaded copy of the base pipeline (never one that serves requests),
so the adapter it trains never leaks into image batches. Cancel and pause are read from the queue
between steps; stopping the worker pauses the running job at a checkpoint and hands it back to be
resumed (exactly, from that checkpoint) by the next worker to claim it; a killed worker leaves it
`running` until its lease lapses, and then any worker resumes it from its last stored checkpoint.
A worker that learns it lost its job (its lease lapsed and another took it) stops training it
and writes nothing more of it.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

import torch

from gesso.data.dataset_format import read_rows
from gesso.engine.lease_heartbeat import LeaseHeartbeat
from gesso.engine.model_resolution import MODEL_BUILD_LOCK
from gesso.engine.thread_budget import ThreadBudget, process_thread_budget
from gesso.engine.worker_thread import WorkerThread
from gesso.jobs.fine_tunes import ClaimedFineTune, FineTuneLeaseLost, FineTuneQueue
from gesso.jobs.queue_errors import QueueUnavailable
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.train.lora_loop import (
    CANCEL,
    PAUSE,
    Control,
    EventSink,
    FinetuneResult,
    TrainingEvent,
    cache_caption_features,
    caption_with_trigger,
    train_lora,
)
from gesso.train.run_config import FinetuneRunConfig

log = logging.getLogger("gesso.finetune")


Trainer = Callable[..., FinetuneResult]
# trains a claimed job elsewhere (Ray Train): events to the sink, asked the control between steps
JobTraining = Callable[[ClaimedFineTune, EventSink, Control], FinetuneResult]


class FineTuneWorker:
    """A daemon thread: prepare pending jobs, claim one, train it, store the outcome, repeat."""

    def __init__(
        self,
        queue: FineTuneQueue,
        poll_seconds: float = 1.0,
        control_every_s: float = 0.2,
        train: Trainer = train_lora,
        threads: ThreadBudget | None = None,
        heartbeat_s: float = 20.0,
        training: JobTraining | None = None,
    ):
        self.queue = queue
        self.training = training  # None: train in this process
        self.heartbeat_s = heartbeat_s
        self.threads = threads or process_thread_budget()
        self.control_every_s = control_every_s
        self.train = train
        self._loop = WorkerThread("gesso-finetune", poll_seconds)
        self.current: str | None = None  # id of the job being trained

    def start(self) -> None:
        self._loop.start(self._run)

    def wake(self) -> None:
        """A job was created, resumed, cancelled or paused: look now, not at the next poll."""
        self._loop.wake()

    def stop(self, timeout: float = 30.0) -> None:
        """Pause the running job at a checkpoint, hand it back to the queue, end the thread."""
        self._loop.stop(timeout)

    @property
    def alive(self) -> bool:
        return self._loop.alive

    def _run(self) -> None:
        while not self._loop.stopping.is_set():
            try:
                self.queue.prepare_pending()
                claimed = self.queue.claim_next()
            except Exception:
                log.exception("reading the fine-tune queue failed")
                claimed = None
            if claimed is None:
                self._loop.idle()
                continue
            self.run_one(claimed)

    def run_one(self, job: ClaimedFineTune) -> None:
        """Train one claimed job to its end, pause or cancel; a failure fails only this job."""
        self.current = job.id
        started = time.perf_counter()
        try:
            with LeaseHeartbeat(lambda: self.queue.renew(job.id), self.heartbeat_s) as heartbeat:
                if not self.queue.fetch_data(job.id):  # held under the lease too: it may take long
                    return
                with self.threads.running("fine-tune"):
                    result = self._train(job, heartbeat.lost)
            if heartbeat.lost.is_set():
                raise FineTuneLeaseLost(job.id)
            if result.status == "paused" and self._loop.stopping.is_set():
                log.info("fine-tune %s paused for shutdown at step %d", job.id, result.step)
                self.queue.release(job.id)  # the next start resumes it first
                return
            self.queue.finish(job.id, result)
            log.info("fine-tune %s %s at step %d/%d in %.1fs", job.id, result.status, result.step,
                     result.total_steps, time.perf_counter() - started)
        except FineTuneLeaseLost:
            log.warning("fine-tune %s is no longer this worker's (its lease lapsed); left to its new worker", job.id)
        except QueueUnavailable:
            # the database or the blob store could not be reached (locked, unreachable): the
            # training is not at fault, so the job goes back to the queue and resumes from its
            # last stored checkpoint
            log.exception("fine-tune %s could not record its progress; handing it back", job.id)
            try:
                self.queue.release(job.id, "The database could not be written")
            except Exception:
                log.exception("could not hand fine-tune %s back; it resumes once its lease lapses", job.id)
        except Exception as exc:  # never let one job end the worker
            log.exception("fine-tune %s failed", job.id)
            try:
                self.queue.fail(job.id, "training_failed", f"{exc.__class__.__name__}: {exc}")
            except Exception:
                log.exception("could not mark fine-tune %s failed", job.id)
        finally:
            self.current = None

    def _train(self, job: ClaimedFineTune, lost: threading.Event) -> FinetuneResult:
        """`train_lora` on a private copy of the base pipeline. The copy is loaded, and the LoRA
        layers added (up to the loop's first event), under `MODEL_BUILD_LOCK`; the slow feature
        caching runs outside it, so serving is held up for as short a time as possible. With
        `training` set (Ray Train), nothing is loaded here."""
        if self.training is not None:
            return self.training(job, lambda event: self.queue.record(job.id, event), self._control(job.id, lost))
        with MODEL_BUILD_LOCK:
            pipe = load_private_copy(job.config)
        precompute_features(pipe, job.config)
        held = MODEL_BUILD_LOCK.acquire()

        def on_event(event: TrainingEvent) -> None:
            nonlocal held
            if held:  # the first event comes once the adapter is in place
                MODEL_BUILD_LOCK.release()
                held = False
            self.queue.record(job.id, event)

        try:
            return self.train(job.config, on_event=on_event, control=self._control(job.id, lost), progress=False,
                              pipe=pipe)
        finally:
            if held:
                MODEL_BUILD_LOCK.release()

    def _control(self, job_id: str, lost: threading.Event) -> Callable[[], str | None]:
        """Asked before every step; reads the queue at most every `control_every_s` seconds. A
        lost lease stops the run at once without a checkpoint (the folder may be shared with
        the job's new worker)."""
        last = {"at": 0.0, "action": None}

        def control() -> str | None:
            if lost.is_set():
                return CANCEL
            if self._loop.stopping.is_set():
                return PAUSE
            now = time.monotonic()
            if now - last["at"] >= self.control_every_s:
                last["at"] = now
                try:
                    last["action"] = self.queue.requested_action(job_id)
                except Exception:
                    log.exception("reading the requested action of %s failed", job_id)
            action = last["action"]
            return action if action in (CANCEL, PAUSE) else None

        return control


def load_private_copy(config: FinetuneRunConfig) -> GessoPipeline:
    """A fresh copy of the base pipeline for one fine-tune (never the one that serves requests)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pipe = GessoPipeline.load(config.base_model_dir, device=device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def precompute_features(pipe: GessoPipeline, config: FinetuneRunConfig) -> None:
    """Fill the loop's feature cache ahead of it (the same files `train_lora` would write)."""
    for folder in filter(None, (config.data_dir, config.validation_data_dir)):
        rows = read_rows(Path(folder))
        captions = [caption_with_trigger(row.text, config.trigger) for row in rows]
        if all(captions):  # otherwise `train_lora` refuses the data with a clear message
            cache_caption_features(pipe, Path(folder), rows, captions, Path(config.out_dir) / "cache")
