"""What the sample county's departments have filed and the office has yet to decide: two 容错 applications.

A ledger holds decisions, not requests, so these are filed through the gateway after the sample is
imported, each by its department's own token, as a clerk would in the console; the office finds them
waiting on its 容错申请 page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import grpc
from google.protobuf import json_format
from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc

from services.common.protoenum import enum_number

Metadata = Callable[[str, str | None], tuple[tuple[str, str], ...]]
REASONS = {
    "task": "因上级政策调整，配套文件晚于交办时间下发，按新政策重新组织实施，申请减轻",
    "error_report": "差错系首次出现且已当即纠正，未造成不良影响，申请免责",
}


def file_sample_applications(channel: grpc.Channel, metadata: Metadata) -> list[str]:
    """Files one application on a late task and one on an error report; the ids filed."""
    tasks = tasks_pb2_grpc.TasksServiceStub(channel)
    scoring = scoring_pb2_grpc.ScoringServiceStub(channel)
    office = metadata("office", None)
    tolerated = {
        json_format.MessageToDict(r.fields).get("target") for r in _records(scoring, office, "tolerance")
    }
    late = next(
        (
            t
            for t in _tasks(tasks, office)
            if t.outcome == common_pb2.TASK_OUTCOME_LATE and t.id not in tolerated
        ),
        None,
    )
    report = next(
        (r for r in _records(scoring, office, "error_report") if not r.voided and r.id not in tolerated),
        None,
    )
    filed = []
    for target_type, target, unit in (
        ("task", late.id if late else "", late.lead_unit if late else ""),
        ("error_report", report.id if report else "", report.unit if report else ""),
    ):
        if not target:
            continue
        made = scoring.FileApplication(
            scoring_pb2.FileApplicationRequest(
                request_id=f"sample-{target_type}-{target}",
                target_type=cast(
                    scoring_pb2.ApplicationTargetType,
                    enum_number(scoring_pb2.ApplicationTargetType.DESCRIPTOR, target_type),
                ),
                target=target,
                reason=REASONS[target_type],
            ),
            metadata=metadata("department", unit),
            timeout=30,
        )
        filed.append(made.application.id)
    return filed


def _tasks(stub: Any, metadata: Any) -> list[Any]:
    reply = stub.ListTasks(tasks_pb2.ListTasksRequest(page_size=5000), metadata=metadata, timeout=60)
    return list(reply.tasks)


def _records(stub: Any, metadata: Any, kind: str) -> list[Any]:
    reply = stub.ListRecords(
        scoring_pb2.ListRecordsRequest(
            kind=cast(scoring_pb2.RecordKind, enum_number(scoring_pb2.RecordKind.DESCRIPTOR, kind)),
            page_size=5000,
            include_voided=True,
        ),
        metadata=metadata,
        timeout=60,
    )
    return list(reply.records)
