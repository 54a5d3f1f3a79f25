"""Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph, SeaweedFS) through boto3.

`GESSO_BLOB_URL=s3://bucket/prefix` selects it. The endpoint, region and credentials come from
boto3's standard configuration (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_PROFILE`, ...), so every S3-compatible server works unchanged. `put`/`get` move small
objects whole (boto3's transfer manager, multipart past one part). `put_stream` uploads a large
object part by part, one part in memory, and aborts the multipart upload on any failure so no
orphan parts stay billed in the bucket; `open_stream` reads GetObject's body in chunks. The store
only ever sees what the sealing layer above hands it, which is ciphertext.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import urlparse

from gesso.store.blob_keys import BlobNotFound, blob_key
from gesso.store.byte_streams import CHUNK_BYTES, BlobChunks, read_part

PART_BYTES = 8 * 1024 * 1024  # S3 takes 5 MiB at least for every part but the last, 10,000 parts at most
log = logging.getLogger("gesso.store")
DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes


class BlobStoreUnavailable(OSError):
    """The object store could not be reached or refused a request it should take."""


class BlobStoreMisconfigured(RuntimeError):
    """The object store settings cannot work (missing bucket, refused credentials, bad URL)."""


def parse_blob_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise BlobStoreMisconfigured(f"GESSO_BLOB_URL must look like s3://bucket/prefix, got {url!r}")
    prefix = parsed.path.strip("/")
    if prefix:
        blob_key(*prefix.split("/"))
    return parsed.netloc, prefix


def s3_client():  # noqa: ANN201 - a botocore client has no importable static type
    """A client from boto3's standard configuration chain, with bounded timeouts and retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 4, "mode": "standard"},
        max_pool_connections=32,
    )
    return boto3.session.Session().client("s3", config=config)


class S3BlobStore:
    def __init__(self, bucket: str, prefix: str = "", client=None):  # noqa: ANN001
        from boto3.s3.transfer import TransferConfig

        self.bucket = bucket
        self.prefix = prefix
        self.client = client if client is not None else s3_client()
        self._transfer = TransferConfig(
            multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4
        )

    def _name(self, key: str) -> str:
        blob_key(*key.split("/"))  # the same key rules as on disk
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        with _translated(key):
            self.client.upload_fileobj(io.BytesIO(data), self.bucket, self._name(key), Config=self._transfer)

    def get(self, key: str) -> bytes:
        buffer = io.BytesIO()
        with _translated(key):
            self.client.download_fileobj(self.bucket, self._name(key), buffer, Config=self._transfer)
        return buffer.getvalue()

    def put_stream(self, key: str, source: BinaryIO) -> None:
        """One PutObject when `source` fits one part; otherwise a multipart upload, one part read
        and sent at a time, aborted (its parts removed) when reading or sending any part fails."""
        name = self._name(key)
        part = read_part(source, PART_BYTES)
        if len(part) < PART_BYTES:
            with _translated(key):
                self.client.put_object(Bucket=self.bucket, Key=name, Body=bytes(part))
            return
        with _translated(key):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
        try:
            parts = []
            while part:
                number = len(parts) + 1
                with _translated(key):
                    answer = self.client.upload_part(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                                     PartNumber=number, Body=part)
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
                part = bytearray()  # the sent part goes before the next one is read
                part = read_part(source, PART_BYTES)
            with _translated(key):
                self.client.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                                      MultipartUpload={"Parts": parts})
        except BaseException:
            self._abort(name, upload_id)
            raise

    def _abort(self, name: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        except Exception as error:  # the failure that brought us here is the one to report
            log.warning("could not abort the multipart upload of %s (%s); a bucket lifecycle rule "
                        "for incomplete uploads removes its parts", name, error)

    def open_stream(self, key: str) -> BlobChunks:
        with _translated(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"]
        return BlobChunks(_body_chunks(key, body), body.close)

    def exists(self, key: str) -> bool:
        try:
            with _translated(key):
                self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except BlobNotFound:
            return False
        return True

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key at or below `prefix` (a key or a folder of keys), in the store's order."""
        base = self._name(prefix.rstrip("/")) if prefix else self.prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        with _translated(prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for item in page.get("Contents", []):
                    name = item["Key"]
                    if not prefix or name == base or name.startswith(base + "/"):
                        yield name[strip:]

    def delete_prefix(self, prefix: str) -> None:
        """Remove one object or every object below a folder; missing ones are fine."""
        names = [self._name(key) for key in self.keys(prefix)]
        with _translated(prefix):
            for start in range(0, len(names), DELETE_BATCH):
                batch = [{"Key": name} for name in names[start : start + DELETE_BATCH]]
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise BlobStoreUnavailable(f"object store refused to delete {first.get('Key')}: {first.get('Message')}")

    def check(self) -> None:
        """Raise BlobStoreMisconfigured with one clear sentence unless the bucket is usable."""
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                raise BlobStoreMisconfigured(f"object store: bucket {self.bucket!r} does not exist ({where})") from None
            if status in (401, 403):
                raise BlobStoreMisconfigured(
                    f"object store: credentials refused for {where} (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
                ) from None
            raise BlobStoreMisconfigured(f"object store: {where} answered {status}: {error}") from None
        except BotoCoreError as error:
            raise BlobStoreMisconfigured(f"object store: cannot reach {where}: {error}") from None


def _body_chunks(key: str, body) -> Iterator[bytes]:  # noqa: ANN001 - botocore's StreamingBody
    with _translated(key):
        yield from body.iter_chunks(CHUNK_BYTES)


class _translated:
    """Map boto3's errors onto the blob store's: a missing object is BlobNotFound, the rest
    (network, throttling, refused credentials) BlobStoreUnavailable."""

    def __init__(self, key: str):
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, _trace) -> bool:  # noqa: ANN001
        if error is None:
            return False
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in {"404", "NoSuchKey", "NotFound"} or status == 404:
                raise BlobNotFound(self.key) from None
            raise BlobStoreUnavailable(f"object store refused a request for {self.key}: {code}") from error
        if isinstance(error, BotoCoreError):
            raise BlobStoreUnavailable(f"object store unreachable: {error}") from error
        return False
