"""Sending claimed jobs to the generation deployment: each job one Serve request (sent together,
so the replica's `@serve.batch` sees them together), a fine-tuned model's adapter as an object
reference put once per adapter version, and the outcome of each request sorted into done,
failed (the job's own error) or lost (the replica died: send it again)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import ray
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.exceptions import (
    DeploymentUnavailableError,
    ReplicaUnavailableError,
    RequestCancelledError,
)
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from gesso.engine.adapter_cache import adapter_key
from gesso.engine.model_resolution import AdapterLookup
from gesso.engine.ray_serve_deployment import AdapterFiles, AdapterRef, ReplicaJob
from gesso.jobs.image_jobs import ClaimedJob, FinishedImage
from gesso.jobs.model_ids import is_fine_tuned
from gesso.model.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS

# a replica (or the whole deployment) went away under the request: the job itself did not fail
REPLICA_LOST = (RayActorError, ActorUnavailableError, ReplicaUnavailableError, DeploymentUnavailableError)
KEPT_ADAPTER_REFS = 32


@dataclass(frozen=True)
class Done:
    images: list[FinishedImage]


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass(frozen=True)
class Lost:
    reason: str


Outcome = Done | Failed | Lost


class AdapterRefs:
    """Object references of adapters' files, one per adapter version (folder, size, mtime), the
    recently used kept so that the bytes go into the object store once, not once per job."""

    def __init__(self, lookup: AdapterLookup, keep: int = KEPT_ADAPTER_REFS):
        self.lookup = lookup
        self.keep = keep
        self._refs: OrderedDict[str, AdapterRef] = OrderedDict()
        self._lock = threading.Lock()

    def for_model(self, name: str) -> tuple[str, AdapterRef | None]:
        """(base model name, adapter reference or None) for a model name; LookupError when a
        fine-tuned name is unknown."""
        if not is_fine_tuned(name):
            return name, None
        found = self.lookup(name)
        if found is None:
            raise LookupError(f"unknown model {name!r}")
        base_model, folder = found
        key = adapter_key(folder)
        with self._lock:
            ref = self._refs.get(key)
            if ref is not None:
                self._refs.move_to_end(key)
                return base_model, ref
        ref = _put_adapter(name, folder)
        with self._lock:
            self._refs[key] = ref
            while len(self._refs) > self.keep:
                self._refs.popitem(last=False)
        return base_model, ref


def _put_adapter(name: str, folder: Path) -> AdapterRef:
    files = AdapterFiles((folder / ADAPTER_WEIGHTS).read_bytes(), (folder / ADAPTER_CONFIG).read_bytes())
    digest = hashlib.sha256(files.weights + files.config).hexdigest()[:16]
    return AdapterRef(f"{name}@{digest}", ray.put(files))


class JobDispatch:
    """`send(job)` -> a pending Serve response; `outcome(response)` -> Done, Failed or Lost."""

    def __init__(self, handle: DeploymentHandle, adapters: AdapterRefs):
        self.handle = handle
        self.adapters = adapters

    def send(self, job: ClaimedJob) -> DeploymentResponse:
        """Raises LookupError when the job's model is unknown (the job fails)."""
        base_model, adapter = self.adapters.for_model(job.request.model)
        item = ReplicaJob(job, base_model, adapter)
        handle = self.handle if adapter is None else self.handle.options(multiplexed_model_id=adapter.adapter_id)
        return handle.remote(item)

    @staticmethod
    def outcome(response: DeploymentResponse, timeout_s: float) -> Outcome | None:
        """The request's outcome, or None if it has none within `timeout_s` (ask again)."""
        try:
            return Done(list(response.result(timeout_s=timeout_s)))
        except TimeoutError:
            return None
        except RequestCancelledError:
            return Lost("cancelled")
        except REPLICA_LOST as error:
            return Lost(type(error).__name__)
        except Exception as error:  # noqa: BLE001 - the job's own failure, raised on the replica
            return Failed(_first_line(error))


def _first_line(error: Exception) -> str:
    cause = getattr(error, "cause", None)
    text = str(cause if isinstance(cause, Exception) else error).strip()
    if "generation failed" in text or "adapter failed" in text:
        return next(line for line in text.splitlines() if "failed" in line).split("RuntimeError: ")[-1].strip()
    return f"generation failed: {type(cause or error).__name__}"
