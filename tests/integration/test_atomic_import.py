"""One import, both services, all or nothing: refusals, crashes between the phases, concurrent imports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from kaohe.common.v1 import common_pb2
from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kaohe.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from sqlalchemy import func, select, update

from services.common.auth import SYSTEM, make_user_identity
from services.common.errors import PermissionDenied
from services.common.policy import SCORING_INTERNAL, TASKS_INTERNAL, authorize_hop
from services.scoring import staging
from services.scoring.storage.tables import staged_imports, staged_records
from services.tasks import decisions as decisions_module
from services.tasks.storage import repository
from services.tasks.storage.tables import import_decisions
from tests.conftest import Stack, internal_metadata

OFFICE = make_user_identity(role="office", unit=None)
UNITS = [
    {"type": "unit", "id": "fgj", "name": "发改局", "category": "department"},
    {"type": "unit", "id": "czj", "name": "财政局", "category": "department"},
]


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def ledger(tag: str, *, description: str = "材料口径不一致", report: str = "") -> list[dict[str, Any]]:
    """A unit, a task with its report and an error report of that unit: both services' halves."""
    unit = f"u{tag}"
    return [
        {"type": "unit", "id": unit, "name": f"单位{tag}", "category": "department"},
        {
            "type": "task",
            "id": f"T{tag}",
            "title": f"事项{tag}",
            "task_type": "leader_directive",
            "lead_unit": unit,
            "assigned_at": "2025-04-28T10:00:00+08:00",
        },
        {"type": "task_event", "task": f"T{tag}", "kind": "report", "at": "2025-05-06T10:00:00+08:00"},
        {
            "type": "error_report",
            "id": report or f"E{tag}",
            "unit": unit,
            "date": "2025-04-01",
            "category": "drafting",
            "severity": "general",
            "description": description,
        },
    ]


def import_file(stack: Stack, records: list[dict[str, Any]]) -> Any:
    return stack.import_ledger(jsonl(records))


def task_ids(stack: Stack) -> set[str]:
    _, tasks, _ = stack.stubs()
    reply = tasks.ListTasks(tasks_pb2.ListTasksRequest(page_size=500), metadata=stack.metadata(), timeout=30)
    return {t.id for t in reply.tasks}


def unit_ids(stack: Stack) -> set[str]:
    _, tasks, _ = stack.stubs()
    reply = tasks.ListUnits(tasks_pb2.ListUnitsRequest(page_size=500), metadata=stack.metadata(), timeout=30)
    return {u.id for u in reply.units}


def records(stack: Stack) -> dict[str, str]:
    """Visible record id → its description."""
    _, _, scoring = stack.stubs()
    reply = scoring.ListRecords(
        scoring_pb2.ListRecordsRequest(page_size=1000), metadata=stack.metadata(), timeout=30
    )
    return {r.id: dict(r.fields).get("description", "") for r in reply.records}


def staged(stack: Stack) -> tuple[int, int]:
    """(staged imports, staged records) in scoring's database."""
    with stack.parts["scoring"].db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(staged_imports)).scalar_one(),
            conn.execute(select(func.count()).select_from(staged_records)).scalar_one(),
        )


def decisions(stack: Stack) -> list[str]:
    with stack.parts["tasks"].db.read() as conn:
        return sorted(conn.execute(select(import_decisions.c.outcome)).scalars())


def on_phase(stack: Stack, hook: Callable[[str], None]) -> None:
    """hook("staged") once scoring has staged an import's half, hook("decided") once tasks has committed its
    own: the gateway's calls to the services watched through the caller its imports are given."""
    app = stack.parts["gateway"].app
    call = app._call  # the caller the gateway hands its imports (services/gateway/use_cases.py)
    phases = {"ImportRecords": "staged", "ImportLedger": "decided"}

    def watched(backend: Any, method: str, request: Any, identity: Any, timeout: float) -> Any:
        reply = call(backend, method, request, identity, timeout)
        # Only an import's two phases: its first message names the import (a validation names none).
        if method in phases and next(iter(request.make())).import_id:
            hook(phases[method])
        return reply

    app.imports.call = watched


@pytest.fixture
def units(stack: Stack) -> Stack:
    import_file(stack, UNITS)
    return stack


def test_an_acknowledged_import_is_all_there_and_nothing_stays_staged(units: Stack) -> None:
    reply = import_file(units, ledger("A"))
    assert dict(reply.created) == {"unit": 1, "task": 1, "task_event": 1, "error_report": 1}
    assert {"TA"} <= task_ids(units) and "uA" in unit_ids(units)
    assert "EA" in records(units)
    assert staged(units) == (0, 0)
    assert decisions(units) == ["committed", "committed"]


def test_a_tasks_refusal_after_scoring_staged_leaves_nothing_in_either(units: Stack) -> None:
    _, tasks, _ = units.stubs()

    def race(phase: str) -> None:
        # Between the phases, a task under the file's id is created through the API with other values.
        if phase == "staged":
            tasks.CreateTask(
                tasks_pb2.CreateTaskRequest(
                    id="TB", title="另一事项", task_type="leader_directive", lead_unit="fgj", assign_now=True
                ),
                metadata=units.metadata(),
                timeout=30,
            )

    on_phase(units, race)
    with pytest.raises(grpc.RpcError) as refused:
        import_file(units, ledger("B"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "uB" not in unit_ids(units)
    assert "EB" not in records(units)
    assert staged(units) == (0, 0)


def test_a_scoring_refusal_from_a_racing_import_leaves_nothing_of_the_file(units: Stack) -> None:
    first_staged, release = threading.Event(), threading.Event()
    outcomes: dict[str, Any] = {}

    def hold(phase: str) -> None:
        if phase == "staged" and not first_staged.is_set():
            first_staged.set()
            release.wait(30)

    on_phase(units, hold)

    def run(name: str, records_: list[dict[str, Any]]) -> None:
        try:
            outcomes[name] = import_file(units, records_)
        except grpc.RpcError as exc:
            outcomes[name] = exc

    first = threading.Thread(target=run, args=("first", ledger("C", report="EX")))
    first.start()
    assert first_staged.wait(30)
    # The same error report id with other values, in a file of new units and tasks: it waits for the first.
    second = threading.Thread(target=run, args=("second", ledger("D", report="EX", description="另一说法")))
    second.start()
    second.join(1.0)
    assert second.is_alive()
    release.set()
    first.join(60)
    second.join(60)
    assert sum(outcomes["first"].created.values()) == 4
    assert isinstance(outcomes["second"], grpc.RpcError)
    assert outcomes["second"].code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "已按其他值记录" in (outcomes["second"].details() or "")
    assert "uD" not in unit_ids(units) and "TD" not in task_ids(units)
    assert records(units)["EX"] == "材料口径不一致"
    assert staged(units) == (0, 0)


def test_a_second_import_is_told_to_retry_while_one_is_in_progress(
    units: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "IMPORT_WAIT", 0.5)
    first_staged, release = threading.Event(), threading.Event()

    def hold(phase: str) -> None:
        if phase == "staged" and not first_staged.is_set():
            first_staged.set()
            release.wait(30)

    on_phase(units, hold)
    first = threading.Thread(target=import_file, args=(units, ledger("E")))
    first.start()
    assert first_staged.wait(30)
    with pytest.raises(grpc.RpcError) as busy:
        import_file(units, ledger("F"))
    assert busy.value.code() == grpc.StatusCode.ABORTED
    assert "另一项导入正在进行" in (busy.value.details() or "")
    assert "uF" not in unit_ids(units)
    release.set()
    first.join(60)
    import_file(units, ledger("F"))
    assert {"TE", "TF"} <= task_ids(units)
    assert {"EE", "EF"} <= set(records(units))


def test_concurrent_imports_run_one_after_the_other(units: Stack) -> None:
    phases: list[tuple[str, str]] = []
    lock = threading.Lock()

    def note(phase: str) -> None:
        with lock:
            phases.append((threading.current_thread().name, phase))

    on_phase(units, note)
    errors: list[BaseException] = []

    def run(tag: str) -> None:
        try:
            import_file(units, ledger(tag))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(tag,)) for tag in ("G", "H")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert {"TG", "TH"} <= task_ids(units)
    assert {"EG", "EH"} <= set(records(units))
    # Never interleaved: each import's two phases follow each other before the next one stages.
    assert [p for _, p in phases] == ["staged", "decided", "staged", "decided"]
    assert phases[0][0] == phases[1][0] and phases[2][0] == phases[3][0]


def test_scoring_lost_after_the_tasks_commit_is_completed_by_recovery(units: Stack) -> None:
    def crash(phase: str) -> None:
        if phase == "decided":
            units.stop("scoring")

    on_phase(units, crash)
    with pytest.raises(grpc.RpcError) as lost:
        import_file(units, ledger("K"))
    assert lost.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "考核服务恢复后会把它完成" in (lost.value.details() or "")
    units.restart_scoring(units.parts["urls"]["scoring"])
    on_phase(units, lambda phase: None)
    # The gateway redials the restarted service on its own schedule.
    grpc.channel_ready_future(units.parts["gateway"].backends.scoring.channel).result(timeout=60)
    assert "EK" not in records(units)
    recovery = units.parts["scoring"].recovery
    recovery.after = 0.0
    assert list(recovery.run_once().values()) == [True]
    assert "EK" in records(units) and "TK" in task_ids(units)
    assert staged(units) == (0, 0)
    assert recovery.run_once() == {}
    # Nothing to import again: the same file now finds everything stored.
    again = import_file(units, ledger("K"))
    assert sum(again.created.values()) == 0


def test_a_gateway_lost_before_the_tasks_commit_is_rolled_back_by_recovery(units: Stack) -> None:
    seen: list[str] = []

    def crash(phase: str) -> None:
        if phase == "staged":
            seen.append(phase)
            raise RuntimeError("the gateway dies between the phases")

    on_phase(units, crash)
    with pytest.raises(grpc.RpcError):
        import_file(units, ledger("L"))
    assert seen == ["staged"]
    assert staged(units) == (1, 1)
    with units.parts["scoring"].db.read() as conn:
        import_id = conn.execute(select(staged_imports.c.import_id)).scalar_one()
    recovery = units.parts["scoring"].recovery
    recovery.after = 0.0
    assert recovery.run_once() == {import_id: False}
    assert staged(units) == (0, 0)
    assert "EL" not in records(units) and "uL" not in unit_ids(units)
    # The decision is recorded: the tasks half of that import, arriving late, is refused.
    tasks = tasks_pb2_grpc.TasksInternalServiceStub(units.channel(units.tasks_addr))
    method = TASKS_INTERNAL + "ImportLedger"
    lines = [common_pb2.LedgerLine(line=1, json=json.dumps(ledger("L")[0]))]
    late_half = [tasks_pb2.ImportLedgerRequest(import_id=import_id, lines=lines)]
    with pytest.raises(grpc.RpcError) as late:
        tasks.ImportLedger(iter(late_half), metadata=internal_metadata(OFFICE, method, late_half), timeout=30)
    assert late.value.code() == grpc.StatusCode.ABORTED
    assert "uL" not in unit_ids(units)
    on_phase(units, lambda phase: None)
    import_file(units, ledger("L"))
    assert "EL" in records(units)


def staged_id(stack: Stack) -> str:
    with stack.parts["scoring"].db.read() as conn:
        return str(conn.execute(select(staged_imports.c.import_id)).scalar_one())


def test_recovery_waits_for_a_tasks_half_on_its_way(units: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    recovery = units.parts["scoring"].recovery
    recovery.after = 0.0
    rounds: list[dict[str, bool]] = []

    def slow_stream(phase: str) -> None:
        if phase == "staged":
            # As when the tasks half's first message has arrived and the rest is still streaming.
            units.parts["tasks"].app.importer.begin(staged_id(units))
            rounds.append(recovery.run_once())

    on_phase(units, slow_stream)
    import_file(units, ledger("P"))
    assert rounds == [{}]
    assert "EP" in records(units) and "TP" in task_ids(units)
    assert decisions(units) == ["committed", "committed"]

    # A half whose process stopped refreshing it is given up once its row is stale.
    monkeypatch.setattr(decisions_module, "STALE", 0)
    stuck: list[str] = []

    def stream_dies(phase: str) -> None:
        if phase == "staged":
            stuck.append(staged_id(units))
            units.parts["tasks"].app.importer.begin(stuck[0])
            assert recovery.run_once() == {}
            units.parts["tasks"].app.importer.decisions.ended(stuck[0])
            raise RuntimeError("the gateway dies while streaming")

    on_phase(units, stream_dies)
    with pytest.raises(grpc.RpcError):
        import_file(units, ledger("Q"))
    assert recovery.run_once() == {stuck[0]: False}
    assert "EQ" not in records(units) and "uQ" not in unit_ids(units)


def test_a_pending_import_is_kept_fresh_by_its_process(units: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    decisions = units.parts["tasks"].app.importer.decisions
    db = units.parts["tasks"].db
    monkeypatch.setattr(decisions_module, "HEARTBEAT", 0.1)
    decisions.begin("on-its-way")
    mine = import_decisions.c.import_id == "on-its-way"
    with db.write() as conn:
        conn.execute(update(import_decisions).where(mine).values(decided_at=0))
    decisions.start()
    try:
        for _ in range(100):
            with db.read() as conn:
                if conn.execute(select(import_decisions.c.decided_at).where(mine)).scalar_one() > 0:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the pending import was not refreshed")
    finally:
        decisions.stop()
        decisions.ended("on-its-way")


def test_a_beat_skips_the_row_an_import_holds_and_refreshes_the_others(units: Stack) -> None:
    # The import's transaction writes its decision first and holds that row until it commits; the beat used
    # to wait behind it for the whole import (96 s at a prefecture), a pooled connection held meanwhile.
    decisions = units.parts["tasks"].app.importer.decisions
    db = units.parts["tasks"].db
    for import_id in ("held", "free"):
        decisions.begin(import_id)
    try:
        with db.write() as conn:
            conn.execute(update(import_decisions).values(decided_at=0))
        if db.is_sqlite:
            # SQLite's one writer is the lock there: with no import writing, the beat refreshes both.
            decisions.refresh()
            assert _decided_at(db) == {"free": True, "held": True}
            return
        with db.engine.begin() as running:  # as the import's transaction, once commit_in has run (at 0 here)
            repository.record_outcome(running, import_id="held", outcome="committed", now=0, known=True)
            beat = threading.Thread(target=decisions.refresh)
            beat.start()
            beat.join(60)
            assert not beat.is_alive()
            assert _decided_at(db) == {"free": True, "held": False}
    finally:
        for import_id in ("held", "free"):
            decisions.ended(import_id)


def _decided_at(db: Any) -> dict[str, bool]:
    """Whether each pending import's row was refreshed since it was zeroed."""
    with db.read(primary=True) as conn:
        rows = conn.execute(select(import_decisions.c.import_id, import_decisions.c.decided_at)).all()
    return {row.import_id: row.decided_at > 0 for row in rows if row.import_id in ("held", "free")}


def test_recovery_before_the_tasks_half_arrives_rolls_back_and_refuses_it(units: Stack) -> None:
    recovery = units.parts["scoring"].recovery
    recovery.after = 0.0
    rounds: list[dict[str, bool]] = []

    def late(phase: str) -> None:
        if phase == "staged":
            rounds.append(recovery.run_once())

    on_phase(units, late)
    with pytest.raises(grpc.RpcError) as refused:
        import_file(units, ledger("R"))
    assert [list(r.values()) for r in rounds] == [[False]]
    assert refused.value.code() == grpc.StatusCode.ABORTED
    assert "已回滚" in (refused.value.details() or "")
    assert "ER" not in records(units) and "uR" not in unit_ids(units)
    assert staged(units) == (0, 0)


def test_a_record_held_by_a_staged_import_is_not_written_around_it(units: Stack) -> None:
    _, _, scoring = units.stubs()
    outcome: list[Any] = []

    def race(phase: str) -> None:
        if phase == "staged":
            try:
                scoring.CreateRecord(
                    scoring_pb2.CreateRecordRequest(
                        kind=scoring_pb2.RECORD_KIND_ERROR_REPORT,
                        fields=_struct(
                            {
                                "id": "EM",
                                "unit": "fgj",
                                "date": "2025-04-02",
                                "category": "drafting",
                                "severity": "general",
                                "description": "抢先录入",
                            }
                        ),
                    ),
                    metadata=units.metadata(),
                    timeout=30,
                )
            except grpc.RpcError as exc:
                outcome.append(exc.code())

    on_phase(units, race)
    import_file(units, ledger("M"))
    assert outcome == [grpc.StatusCode.ABORTED]
    assert records(units)["EM"] == "材料口径不一致"


def test_only_scoring_resolves_and_only_the_gateway_commits() -> None:
    authorize_hop(SYSTEM, TASKS_INTERNAL + "ResolveImport", peer="scoring", mutual_tls=True)
    with pytest.raises(PermissionDenied):
        authorize_hop(SYSTEM, TASKS_INTERNAL + "ResolveImport", peer="gateway", mutual_tls=True)
    with pytest.raises(PermissionDenied):
        authorize_hop(OFFICE, TASKS_INTERNAL + "ResolveImport", peer="gateway", mutual_tls=True)
    for name in ("CommitImport", "AbortImport"):
        authorize_hop(OFFICE, SCORING_INTERNAL + name, peer="gateway", mutual_tls=True)
        with pytest.raises(PermissionDenied):
            authorize_hop(SYSTEM, SCORING_INTERNAL + name, peer="scoring", mutual_tls=True)
        with pytest.raises(PermissionDenied):
            authorize_hop(
                make_user_identity(role="supervisor", unit=None),
                SCORING_INTERNAL + name,
                peer="gateway",
                mutual_tls=True,
            )


def test_an_import_id_out_of_bounds_is_refused(units: Stack) -> None:
    scoring = scoring_pb2_grpc.ScoringInternalServiceStub(units.channel(units.scoring_addr))
    method = SCORING_INTERNAL + "CommitImport"
    request = scoring_pb2.CommitImportRequest(import_id="x" * 65)
    with pytest.raises(grpc.RpcError) as refused:
        scoring.CommitImport(request, metadata=internal_metadata(OFFICE, method, request), timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = scoring_pb2.CommitImportRequest(import_id="unknown")
    reply = scoring.CommitImport(request, metadata=internal_metadata(OFFICE, method, request), timeout=30)
    assert reply.applied is False


def _struct(fields: dict[str, Any]) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(fields)
    return value


def test_resolve_answers_pending_at_once_while_an_import_runs(units: Stack) -> None:
    # A province's import holds the import lock for many minutes; recovery's question every round used to wait
    # behind it, each holding a connection and a thread of the tasks service until the import ended.
    db = units.parts["tasks"].db
    decisions = units.parts["tasks"].app.importer.decisions
    if db.is_sqlite:
        # SQLite's one writer is the lock there: a running import and the question take turns.
        assert decisions.resolve("no-such-import") == "aborted"
        return
    answered: list[str] = []
    with db.engine.begin() as running:  # as an import's transaction on another replica
        repository.lock_imports(running)
        asking = threading.Thread(target=lambda: answered.append(decisions.resolve("an-undecided-one")))
        asking.start()
        asking.join(60)
        assert not asking.is_alive() and answered == ["pending"]
        assert decisions.peek("an-undecided-one") == "undecided"  # nothing recorded while it could not look
    assert decisions.resolve("an-undecided-one") == "aborted"  # the import over: decided as before
