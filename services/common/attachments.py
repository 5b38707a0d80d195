"""Attachments (佐证材料): the file kinds accepted by content, and one store — a folder or an S3 bucket."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from services.common.errors import InvalidArgument
from services.common.files import private_dir

MAX_BYTES = 20 << 20
CHUNK = 256 << 10
FIELD = "附件"
RULE = "只收 PDF、图片（PNG、JPEG、GIF、WEBP）和 Office 文件（docx、xlsx、pptx、doc、xls），按文件内容判断"

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_OOXML = (
    ("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069/\\:*?"<>|]')
NAME_MAX = 200


def media_type(path: Path, name: str) -> str:
    """The media type of the file at path, read from its content; InvalidArgument when it is none we take.

    The name only tells a legacy .xls from a .doc, both OLE compound files; it never admits a file.
    """
    with path.open("rb") as file:
        head = file.read(16)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(_OLE):
        return "application/vnd.ms-excel" if name.lower().endswith(".xls") else "application/msword"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            names = []
        # Any zip is not an Office file: OOXML has its [Content_Types].xml and one of the parts' folders.
        if "[Content_Types].xml" in names:
            for folder, kind in _OOXML:
                if any(n.startswith(folder) for n in names):
                    return kind
    raise InvalidArgument(FIELD, f"文件类型不被接受：{RULE}")


def safe_name(name: str) -> str:
    """The file name as shown and offered back: its last path part, no control or path character, bounded."""
    last = re.split(r"[/\\]", name)[-1]
    cleaned = _UNSAFE_NAME.sub("_", last).strip().lstrip(".")
    if len(cleaned) > NAME_MAX:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (
            (stem[: NAME_MAX - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else cleaned[:NAME_MAX]
        )
    return cleaned or "附件"


@dataclass(frozen=True)
class Received:
    """An upload written to a private temporary file: where, its SHA-256 and its size."""

    path: Path
    sha256: str
    size: int


@contextmanager
def receive(chunks: Iterable[bytes], spool_dir: Path) -> Iterator[Received]:
    """The chunks written to a temporary file in spool_dir while hashed, never held whole; removed after.

    More than MAX_BYTES is refused as soon as it is seen, the rest of the stream unread.
    """
    private_dir(spool_dir)
    fd, name = tempfile.mkstemp(prefix="kaohe-attachment-", dir=spool_dir)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as spool:
            for chunk in chunks:
                size += len(chunk)
                if size > MAX_BYTES:
                    raise InvalidArgument(FIELD, f"每个附件不得超过 {MAX_BYTES >> 20} MB")
                digest.update(chunk)
                spool.write(chunk)
        if size == 0:
            raise InvalidArgument(FIELD, "附件是空文件")
        yield Received(Path(name), digest.hexdigest(), size)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(name)


class AttachmentStore(Protocol):
    """Where the files' bytes live, under their SHA-256: the same content is stored once."""

    spool_dir: Path

    def put(self, sha256: str, path: Path) -> None:
        """Keeps the file at path under sha256 (path may be moved away)."""

    def read(self, sha256: str) -> Iterator[bytes]:
        """The stored bytes, chunk by chunk."""


def _key(sha256: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a SHA-256: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:]}"


class FolderStore:
    """A folder: <root>/ab/cdef…, each file written whole elsewhere first and moved into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # In the same folder tree, so that the move into place is a rename on one file system.
        self.spool_dir = root / "tmp"

    def put(self, sha256: str, path: Path) -> None:
        target = self.root / _key(sha256)
        if target.exists():
            return
        private_dir(target.parent)
        os.replace(path, target)

    def read(self, sha256: str) -> Iterator[bytes]:
        with (self.root / _key(sha256)).open("rb") as file:
            while chunk := file.read(CHUNK):
                yield chunk


class S3Store:
    """A bucket of any S3-compatible object store, through boto3 (multipart upload from the file)."""

    def __init__(self, client: Any, bucket: str, prefix: str, spool_dir: Path) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.spool_dir = spool_dir

    def _object(self, sha256: str) -> str:
        return f"{self.prefix}/{_key(sha256)}" if self.prefix else _key(sha256)

    def put(self, sha256: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, self._object(sha256))

    def read(self, sha256: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self._object(sha256))["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()


def open_store(url: str, *, data_dir: Path, endpoint_url: str = "") -> AttachmentStore:
    """The store url names: s3://bucket/prefix (endpoint_url for a store other than AWS), else a folder.

    Empty url: <data_dir>/attachments.
    """
    if not url:
        return FolderStore(data_dir / "attachments")
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("KAOHE_ATTACHMENTS_URL：s3://桶/前缀 须写明桶名")
        import boto3  # only a deployment that asks for S3 needs it loaded

        client = boto3.client("s3", endpoint_url=endpoint_url or None)
        return S3Store(client, parts.netloc, parts.path, data_dir / "attachments-spool")
    if parts.scheme in ("", "file"):
        return FolderStore(Path(parts.path).resolve())
    raise ValueError(f"KAOHE_ATTACHMENTS_URL：不认识的地址类型 {parts.scheme!r}（可用 s3:// 或一个目录）")


def store_from_env(data_dir: Path) -> AttachmentStore:
    """The store the environment chooses: KAOHE_ATTACHMENTS_URL and KAOHE_S3_ENDPOINT_URL."""
    return open_store(
        os.environ.get("KAOHE_ATTACHMENTS_URL", "").strip(),
        data_dir=data_dir,
        endpoint_url=os.environ.get("KAOHE_S3_ENDPOINT_URL", "").strip(),
    )
