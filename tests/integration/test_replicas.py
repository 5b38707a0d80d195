"""Scale-out: two replicas of each service on one PostgreSQL, behind client-side round-robin."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kaohe.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.result_wire import result_to_json_dict
from services.common.scheme import Scheme
from services.common.tls import TlsFiles
from tests.conftest import KEYS, PG_URL, Databases, secure_channel, user_token
from tests.tasks_text import TextStub, typed

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason="KAOHE_TEST_PG_URL is not set")]

UNITS = b"\n".join(
    [
        b'{"type":"unit","id":"fgj","name":"\xe5\x8f\x91\xe6\x94\xb9\xe5\xb1\x80","category":"department"}',
        b'{"type":"unit","id":"czj","name":"\xe8\xb4\xa2\xe6\x94\xbf\xe5\xb1\x80","category":"department"}',
        b'{"type":"unit","id":"cgz","name":"\xe5\x9f\x8e\xe5\x85\xb3\xe9\x95\x87","category":"township"}',
        # The run at the end scores 2025, and a run needs something of its year to assess.
        b'{"type":"metric_reading","unit":"fgj","metric":"court_appearance_rate","period":"2025",'
        b'"numerator":1,"denominator":1}',
    ]
)


def _served_calls(part: object, method: str) -> float:
    registry = part.registry  # type: ignore[attr-defined]
    total = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == "kaohe_grpc_server_requests_total" and sample.labels.get("method") == method:
                total += sample.value
    return total


@pytest.fixture
def replicas(tmp_path: Path, example_scheme: Scheme, tls_files: TlsFiles) -> Iterator[dict[str, list]]:
    from services.gateway.__main__ import create as create_gateway
    from services.scoring.__main__ import create as create_scoring
    from services.tasks.__main__ import create as create_tasks

    dbs = Databases("postgres", tmp_path)
    tasks_url, scoring_url = dbs.url("tasks"), dbs.url("scoring")
    keys = KEYS
    parts: dict[str, list] = {"tasks": [], "scoring": [], "gateway": []}
    try:
        for _ in range(2):
            parts["tasks"].append(
                create_tasks(
                    address="127.0.0.1:0",
                    db_url=tasks_url,
                    scheme=example_scheme,
                    keys=keys,
                    tls=tls_files.config("tasks"),
                )
            )
        tasks_target = "ipv4:" + ",".join(f"127.0.0.1:{t.port}" for t in parts["tasks"])
        for _ in range(2):
            parts["scoring"].append(
                create_scoring(
                    address="127.0.0.1:0",
                    db_url=scoring_url,
                    scheme=example_scheme,
                    keys=keys,
                    tls=tls_files.config("scoring"),
                    tasks_addr=tasks_target,
                )
            )
        scoring_target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in parts["scoring"])
        for _ in range(2):
            parts["gateway"].append(
                create_gateway(
                    address="127.0.0.1:0",
                    keys=keys,
                    tls=tls_files.config("gateway"),
                    tasks_addr=tasks_target,
                    scoring_addr=scoring_target,
                    audit_path=tmp_path / "audit.log",
                )
            )
        for group in parts.values():
            for part in group:
                part.server.start()
        yield parts
    finally:
        for group in parts.values():
            for part in group:
                part.server.stop(0).wait()
                if hasattr(part, "db"):
                    part.db.dispose()
        dbs.drop()


def test_writes_through_both_replicas_are_neither_lost_nor_doubled(
    replicas: dict[str, list], tls_files: TlsFiles
) -> None:
    office = (("authorization", f"Bearer {user_token('office')}"),)
    target = "ipv4:" + ",".join(f"127.0.0.1:{g.port}" for g in replicas["gateway"])
    channel = secure_channel(
        tls_files, target, target_name="gateway", options=[("grpc.lb_policy_name", "round_robin")]
    )
    gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
    tasks = TextStub(tasks_pb2_grpc.TasksServiceStub(channel))
    scoring = scoring_pb2_grpc.ScoringServiceStub(channel)
    gateway.ImportLedger(iter([gateway_pb2.ImportLedgerRequest(data=UNITS)]), metadata=office, timeout=30)

    request_ids = [uuid.uuid4().hex for _ in range(40)]
    errors: list[BaseException] = []

    def create(request_id: str, index: int) -> None:
        try:
            tasks.CreateTask(
                typed(
                    tasks_pb2.CreateTaskRequest,
                    request_id=request_id,
                    id=f"R{index}",
                    title=f"并发立项 {index}",
                    task_type="leader_directive",
                    lead_unit="fgj" if index % 2 else "czj",
                    assign_now=True,
                ),
                metadata=office,
                timeout=30,
            )
            scoring.CreateRecord(
                scoring_pb2.CreateRecordRequest(
                    request_id=request_id,
                    kind=scoring_pb2.RECORD_KIND_INCENTIVE,
                    fields=_struct(
                        {
                            "id": f"I{index}",
                            "unit": "fgj",
                            "date": "2025-05-01",
                            "level": "county",
                            "reason": "并发",
                        }
                    ),
                ),
                metadata=office,
                timeout=30,
            )
        except BaseException as exc:
            errors.append(exc)

    # Every request is sent twice, concurrently: the repeat must find the first one's answer.
    threads = [threading.Thread(target=create, args=(rid, i)) for i, rid in enumerate(request_ids)]
    threads += [threading.Thread(target=create, args=(rid, i)) for i, rid in enumerate(request_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    listed = tasks.ListTasks(tasks_pb2.ListTasksRequest(page_size=1000), metadata=office, timeout=30)
    assert sorted(t.id for t in listed.tasks) == sorted(f"R{i}" for i in range(40))
    for task in listed.tasks:
        shown = tasks.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=office, timeout=30).task
        assert [e.kind for e in shown.history] == ["create", "assign"]
    incentives = scoring.ListRecords(
        scoring_pb2.ListRecordsRequest(kind=scoring_pb2.RECORD_KIND_INCENTIVE, page_size=1000),
        metadata=office,
        timeout=30,
    )
    assert sorted(r.id for r in incentives.records) == sorted(f"I{i}" for i in range(40))

    for name, method in (("gateway", "CreateTask"), ("tasks", "CreateTask"), ("scoring", "CreateRecord")):
        served = [_served_calls(part, method) for part in replicas[name]]
        assert all(count > 0 for count in served), (name, served)
    run = scoring.CreateRun(scoring_pb2.CreateRunRequest(year=2025), metadata=office, timeout=60).run
    document = result_to_json_dict(run.result)
    assert {u["unit"] for u in document["units"]} == {"fgj", "czj", "cgz"}
    channel.close()


def _struct(values: dict) -> object:
    from google.protobuf import struct_pb2

    message = struct_pb2.Struct()
    message.update(values)
    return message
