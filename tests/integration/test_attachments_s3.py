"""附件 in an S3-compatible object store: moto's server on a free port, reached by boto3 like any other."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.attachments import S3Store, open_store
from services.common.scheme import Scheme
from services.common.tls import TlsFiles
from tests.conftest import Databases, Stack, start_stack, stop_stack
from tests.integration.test_attachments import LEDGER, PDF, download, listed, upload
from tests.integration.test_people_levels import jsonl

BUCKET = "kaohe-evidence"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on a free loopback port, with the bucket made; the test is skipped, saying why, when
    it cannot start."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # moto[server] is a dev dependency; a bare install has no S3 to test against
        pytest.skip(f"moto's S3 server is not installed: {exc}")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
    except OSError as exc:
        pytest.skip(f"moto's S3 server could not start: {exc}")
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_stack(
    s3_endpoint: str, databases: Databases, example_scheme: Scheme, tmp_path: Path, tls_files: TlsFiles
) -> Iterator[Stack]:
    store = open_store(f"s3://{BUCKET}/county/attachments", data_dir=tmp_path, endpoint_url=s3_endpoint)
    assert isinstance(store, S3Store)
    running = start_stack(
        tasks_db=databases.url("tasks"),
        scoring_db=databases.url("scoring"),
        scheme=example_scheme,
        tmp=tmp_path,
        tls=tls_files,
        attachments=store,
    )
    running.parts["s3"] = store
    yield running
    stop_stack(running)


def test_files_go_to_the_bucket_under_their_hash_and_come_back(s3_stack: Stack) -> None:
    s3_stack.import_ledger(jsonl(LEDGER))
    made = upload(s3_stack, "department", "fgj", "F1", "报告.pdf", PDF)
    store: S3Store = s3_stack.parts["s3"]
    sha = hashlib.sha256(PDF).hexdigest()
    keys = [o["Key"] for o in store.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == [f"county/attachments/{sha[:2]}/{sha[2:]}"]
    # Nothing of it is left on the local disk: the spool file was removed once uploaded.
    assert not any(p.is_file() for p in store.spool_dir.rglob("*"))
    assert [a.id for a in listed(s3_stack, "department", "xz1", "V1")] == []
    record, data = download(s3_stack, "office", None, made.id)
    assert (record.sha256, data) == (sha, PDF)
