"""Where `kaohe assess run`'s time goes on the user's path, each part measured against the same stack.

The parts: the CLI's own start; CreateRun through the gateway and straight to scoring (the gateway's
hop); the service's own compute time (runs.duration_seconds: gathering, scoring, the document); the
facts and units it gathers from the tasks service; the same gathering and scoring redone in this process,
piece by piece; the document stored; the CLI's table; then the run again before and after ANALYZE.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from benchmarks.ledger import LOCAL, SCHEME
from benchmarks.record import Figure, Record
from benchmarks.served import Served, pg_dsn

T = TypeVar("T")
RUN_TIMEOUT = 1800.0


def where_the_run_goes(
    record: Record, served: Served, urls: dict[str, str], *, size: str, first_run: float
) -> None:
    """Each part of the run timed; every figure's baseline is a whole `kaohe assess run` on a warm stack."""
    from services.common.tokens import load_token_keys

    print(f"# {size}: statistics as the first run began: {table_statistics(urls['tasks'])}", flush=True)
    keys = load_token_keys(served.data)
    before = served.cpu_seconds()
    with DatabaseSampler(urls) as sampler:
        timed = served.cli("assess", "run", "--year", "2025")
    warm = timed.seconds
    used = {name: seconds - before.get(name, 0.0) for name, seconds in served.cpu_seconds().items()}
    used |= {"cli": timed.cpu_seconds} | {f"postgres.{s}": c for s, c in sampler.cpu_by_service().items()}
    for service, query, seconds in sampler.busiest():
        print(
            f"# {size}: in the warm run {service}'s database was busy {seconds:.2f} s with: {query}",
            flush=True,
        )
    parts: list[tuple[str, float, str]] = [
        (
            "first_run",
            first_run,
            "the first `kaohe assess run`, right after the import (the headline figure)",
        ),
        ("startup", served.cli("assess", "run", "--help").seconds, "the CLI process started, no call made"),
    ]
    parts += [
        (f"cpu.{name}", seconds, f"CPU seconds of {name} during the warm run")
        for name, seconds in sorted(used.items())
        if seconds >= 0.01
    ]
    through_gateway, reply = _timed(lambda: _create_run(served.gateway, keys, direct=False))
    parts.append(("create_run.via_gateway", through_gateway, "CreateRun as the CLI sends it, from here"))
    direct, _ = _timed(lambda: _create_run(served.scoring, keys, direct=True))
    parts.append(("create_run.direct", direct, "CreateRun straight to scoring, signed as the gateway signs"))
    computed = _run_durations(urls["scoring"])
    parts.append(
        (
            "scoring.compute",
            computed,
            "the service's own duration of that run (gather + score + document), runs.duration_seconds",
        )
    )
    parts.append(
        ("scoring.store", direct - computed, "CreateRun straight to scoring less its compute: storing")
    )
    parts += _redone_in_process(served, urls, keys)
    document_seconds, document = _timed(lambda: _document_of(reply))
    parts.append(("cli.document", document_seconds, "the reply turned into the result document (CLI)"))
    parts.append(("cli.render", _timed(lambda: _render(document))[0], "the result table rendered (CLI)"))
    print(f"# {size}: statistics before ANALYZE: {table_statistics(urls['tasks'])}", flush=True)
    parts.append(("analyze", _analyze(urls), "ANALYZE of both databases after the import"))
    parts.append(
        ("run_after_analyze", served.cli("assess", "run", "--year", "2025").seconds, "the run again")
    )
    for name, seconds, note in parts:
        record.add(
            Figure(
                f"run.{size}.phase.{name}",
                seconds,
                "s",
                warm,
                f"{note}; baseline `kaohe assess run` on the warm stack before ANALYZE",
            )
        )


def _timed(work: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def _create_run(address: str, keys: Any, *, direct: bool) -> Any:
    """CreateRun as `kaohe assess run` sends it (totals only), to the gateway or straight to scoring."""
    import uuid

    import grpc
    from kaohe.scoring.v1 import scoring_pb2, scoring_pb2_grpc

    from services.common.auth import make_user_identity
    from services.common.clients import MAX_MESSAGE_BYTES, Backend
    from services.common.tokens import issue_user_token

    request = scoring_pb2.CreateRunRequest(request_id=uuid.uuid4().hex, year=2025, omit_breakdown=True)
    office = make_user_identity(role="office", unit=None, subject="bench")
    if direct:
        backend = Backend(
            name="scoring",
            target=address,
            service="kaohe.scoring.v1.ScoringService",
            stub_class=scoring_pb2_grpc.ScoringServiceStub,
            keys=keys,
            tls=None,
        )
        try:
            return backend.stub.CreateRun(request, metadata=backend.metadata(office), timeout=RUN_TIMEOUT)
        finally:
            backend.close()
    limits = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    with grpc.insecure_channel(address, options=limits) as channel:
        token = issue_user_token(office, ring=keys.user)
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        return stub.CreateRun(request, metadata=(("authorization", f"Bearer {token}"),), timeout=RUN_TIMEOUT)


def _run_durations(scoring_url: str) -> float:
    """The last run's duration_seconds as the scoring service recorded it."""
    import psycopg

    with psycopg.connect(pg_dsn(scoring_url)) as conn:
        row = conn.execute(
            "SELECT duration_seconds FROM runs ORDER BY created_at DESC, id DESC LIMIT 1"
        ).fetchone()
    return float(row[0]) if row else float("nan")


def _redone_in_process(served: Served, urls: dict[str, str], keys: Any) -> list[tuple[str, float, str]]:
    """Scoring's gathering and scoring redone here against the same tasks service and databases."""
    from sqlalchemy import create_engine

    from services.common.scheme import load_scheme_file
    from services.scoring.clients import GrpcTasks
    from services.scoring.domain import score
    from services.scoring.inputs import default_as_of, gather
    from services.scoring.storage import repository as repo

    scheme = load_scheme_file(SCHEME)
    as_of = default_as_of(2025, scheme)
    tasks = GrpcTasks(served.tasks, keys, tls=None, timeout=RUN_TIMEOUT)
    engine = create_engine(urls["scoring"])

    def stored() -> list[Any]:
        with engine.connect() as conn:
            return repo.scoring_records(conn)

    try:
        units, _ = _timed(tasks.units)
        start, end = (int(datetime(y, 1, 1, tzinfo=LOCAL).timestamp()) for y in (2025, 2026))
        facts, _ = _timed(lambda: tasks.facts(due_from=start, due_before=end, as_of=int(as_of.timestamp())))
        in_force = scheme.with_notices(tasks.notices())
        gathered, (inputs, _) = _timed(
            lambda: gather(
                tasks, stored, scheme=in_force, served=scheme, year=2025, as_of=as_of, strict=False
            )
        )
        scored, assessment = _timed(lambda: score(inputs, in_force, year=2025, as_of=as_of))
        documented, document = _timed(assessment.stored_document)
        encoded, text = _timed(lambda: json.dumps(document, ensure_ascii=False))
    finally:
        tasks.backend.close()
        engine.dispose()
    megabytes = len(text.encode()) / 1e6
    return [
        ("gather.units", units, "ListUnits from the tasks service, from here"),
        (
            "gather.facts",
            facts,
            "the timeliness facts streamed from the tasks service and decoded, from here",
        ),
        ("gather.all", gathered, "scoring's whole gathering (units, facts, records, columns), redone here"),
        ("score", scored, "the kernel on those inputs, here"),
        ("document", documented, "the stored document built from the assessment (breakdowns included), here"),
        ("document.json", encoded, f"that document as JSON text ({megabytes:.0f} MB), here"),
    ]


def _document_of(reply: Any) -> dict[str, Any]:
    from services.cli.client import document_of

    return document_of(reply.run)


def _render(document: dict[str, Any]) -> str:
    from services.cli import render

    return render.results(document)


def _analyze(urls: dict[str, str]) -> float:
    import psycopg

    start = time.perf_counter()
    for url in urls.values():
        with psycopg.connect(pg_dsn(url), autocommit=True) as conn:
            conn.execute("ANALYZE")
    return time.perf_counter() - start


def table_statistics(url: str) -> str:
    """For the largest tables: rows PostgreSQL believes they hold and when they were last analysed."""
    import psycopg

    with psycopg.connect(pg_dsn(url)) as conn:
        rows = conn.execute(
            "SELECT relname, n_live_tup, greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables "
            "ORDER BY n_live_tup DESC LIMIT 3"
        ).fetchall()
    return "; ".join(f"{name} {live:,} rows, analysed {when or 'never'}" for name, live, when in rows)


class DatabaseSampler:
    """While open, pg_stat_activity of the bench's databases every few milliseconds: how long each query
    was seen running, and the CPU each backend used (from when it was first seen to when it was last)."""

    INTERVAL = 0.02

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.active: dict[tuple[str, str], float] = {}
        self.first_cpu: dict[int, float] = {}
        self.last_cpu: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> DatabaseSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        import psycopg

        from benchmarks.served import cpu_seconds

        service_of = {make_url(url).database: service for service, url in self.urls.items()}
        with psycopg.connect(pg_dsn(next(iter(self.urls.values()))), autocommit=True) as conn:
            last = time.perf_counter()
            while not self._stop.wait(self.INTERVAL):
                rows = conn.execute(
                    "SELECT pid, datname, state, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
                    "FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                    (list(service_of),),
                ).fetchall()
                now = time.perf_counter()
                for pid, database, state, query in rows:
                    service = service_of[database]
                    used = cpu_seconds(pid)
                    self.first_cpu.setdefault(pid, used)
                    self.last_cpu[pid] = (service, used)
                    if state == "active":
                        key = (service, query)
                        self.active[key] = self.active.get(key, 0.0) + (now - last)
                last = now

    def cpu_by_service(self) -> dict[str, float]:
        """CPU seconds of each service's PostgreSQL backends while sampled."""
        used: dict[str, float] = {}
        for pid, (service, cpu) in self.last_cpu.items():
            used[service] = used.get(service, 0.0) + cpu - self.first_cpu[pid]
        return used

    def busiest(self, count: int = 6) -> list[tuple[str, str, float]]:
        """The queries seen running longest: (service, query, seconds)."""
        ranked = sorted(self.active.items(), key=lambda item: -item[1])[:count]
        return [(service, query, seconds) for (service, query), seconds in ranked]
