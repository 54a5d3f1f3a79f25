"""`POST /v1/files` bodies: read the multipart upload into a temporary file (in chunks, never
all in memory while parsing), check it with the corpus validator, answer bad rows in OpenAI's
error shape with Gesso's full row report."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from gesso.data.upload_archives import ArchiveLimits, UploadRejected, store_upload
from gesso.data.validation import ImageLimits
from gesso.jobs.request_errors import BadRequest
from gesso.service.content_disposition import safe_filename
from gesso.store.file_records import NewFile

CHUNK = 1024 * 1024
FIELDS = {"purpose", "captions_optional"}
MAX_REPORTED_IN_MESSAGE = 20
# stands in for a trigger word while checking: uncaptioned images are then allowed, and a job on
# such a file must name a real trigger (checked when the job is created)
_ANY_TRIGGER = "trigger"


@dataclass(frozen=True)
class FileUpload:
    path: Path  # a temporary file; remove its folder with `discard`
    filename: str
    purpose: str
    captions_optional: bool

    def discard(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


async def read_file_upload(request: Request) -> FileUpload:
    """The `file` part into a temporary file, and the text fields; BadRequest for anything else."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("send this request as multipart/form-data with a `file` part", "file")
    try:
        form = await request.form(max_files=1, max_fields=8)
    except MultiPartException as exc:
        raise BadRequest(f"malformed multipart body: {exc.message}", "file") from None
    folder = Path(tempfile.mkdtemp(prefix="gesso-upload-"))
    fields: dict[str, str] = {}
    upload: UploadFile | None = None
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != "file":
                    raise BadRequest(f"unexpected file field {name!r}", name)
                upload = value
            elif name.startswith("expires_after"):
                raise BadRequest("files do not expire by request; the tenant's retention policy applies",
                                 "expires_after")
            elif name not in FIELDS:
                raise BadRequest(f"unknown parameter {name!r}", name)
            else:
                fields[name] = value
        if upload is None:
            raise BadRequest("missing required parameter 'file'", "file")
        if "purpose" not in fields:
            raise BadRequest("missing required parameter 'purpose'", "purpose")
        target = folder / "upload"
        with target.open("xb") as out:
            while chunk := await upload.read(CHUNK):
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        await form.close()
    optional = fields.get("captions_optional", "false").lower()
    if optional not in ("true", "false"):
        shutil.rmtree(folder, ignore_errors=True)
        raise BadRequest("captions_optional must be true or false", "captions_optional")
    return FileUpload(target, safe_filename(upload.filename), fields["purpose"], optional == "true")


@dataclass(frozen=True)
class CheckedUpload:
    info: NewFile  # what to record
    preview_png: bytes
    captions: list[tuple[str, str]]  # (where, caption) for the content policy


def check_upload(upload: FileUpload, limits: ArchiveLimits, image_limits: ImageLimits) -> CheckedUpload:
    """Validate the upload as a dataset (extracted to a scratch folder that is then removed).

    Raises UploadRejected listing every bad row.
    """
    scratch = upload.path.parent / "dataset"
    try:
        stored = store_upload(
            upload.path, scratch, trigger=_ANY_TRIGGER if upload.captions_optional else None,
            limits=limits, image_limits=image_limits,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info = NewFile(
        filename=upload.filename,
        size=upload.path.stat().st_size,
        sha256=stored.sha256,
        kind=stored.kind,
        image_count=stored.image_count,
        uncaptioned_count=sum(1 for row in stored.rows if not row.text.strip()),
    )
    captions = [(f"caption on line {row.line}", row.text) for row in stored.rows if row.text]
    return CheckedUpload(info, stored.preview_png, captions)


def upload_rejected_response(exc: UploadRejected) -> JSONResponse:
    """400 in OpenAI's error shape; the message names the bad rows (the first ones), and
    `problems` (Gesso extension) holds every one as {line, file_name, reason}."""
    shown = [str(p) for p in exc.problems[:MAX_REPORTED_IN_MESSAGE]]
    more = len(exc.problems) - len(shown)
    message = f"the upload has {len(exc.problems)} problem(s): " + "; ".join(shown)
    if more:
        message += f"; and {more} more (see `problems`)"
    body = {"error": {
        "message": message,
        "type": "invalid_request_error",
        "param": "file",
        "code": "invalid_file",
        "problems": [{"line": p.line, "file_name": p.file_name, "reason": p.reason} for p in exc.problems],
    }}
    return JSONResponse(body, status_code=400)
