"""Every `kaohe` command's `--json` output on the sample county, byte for byte against golden files.

`kaohe serve --sample` on the frozen scheme tests/data/cli_json/scheme.toml (the default scheme
for the year 2025: a year wholly past, so the county is the same whatever day the test runs) imports
the sample county; the test then runs every command that prints JSON — reads first, then assessment
runs, then writes with fixed ids, request ids, dates and `--as-of` — and compares each one's stdout
with tests/data/cli_json/<step>.json.

Only what no argument can fix — this run's clock and ports — is normalised, in the fields named in
NOW_FIELDS and OTHER_FIELDS: an instant of this run (created_at of the records it imports or writes,
timelines, filed_at, assigned_at of a task assigned now, the tasks list's as_of …) becomes "<now>",
and the 公示's appeal_deadline (now + the window) "<deadline>" — each only when the value lies within
(or, for the deadline, after the start of) the run, so a fixed instant in such a field is still
compared —; a run's duration_seconds "<duration>", a token's expires_at "<expires>", a login's token
"<token>", a service's port "<port>", the years `status` finds without a calendar (they follow today)
"<years>". Everything else is compared as printed.

To regenerate the golden files from the tree you are in (after a deliberate change of the output):

    KAOHE_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/e2e/test_cli_json_golden.py -p no:xdist

then review `git diff tests/data/cli_json/` and commit it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.forked_cli import FORKED
from tests.e2e.test_cli import KAOHE, Served, start_served

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "cli_json"
SCHEME = GOLDEN / "scheme.toml"
REGENERATE = os.environ.get("KAOHE_REGENERATE_GOLDEN") == "1"
SAMPLE_IMPORTED = "已导入示例县"
SAMPLE_FAILED = "示例县未导入"
SAMPLE_WAIT_SECONDS = 900
SAMPLE_ATTEMPTS = 3

# Fields that carry an instant this run's clock wrote; replaced only when the value falls in the run.
NOW_FIELDS = (
    "as_of",
    "assigned_at",
    "at",
    "created_at",
    "decided_at",
    "filed_at",
    "last_login_at",
    "published_at",
    "finalized_at",
    "updated_at",
    "uploaded_at",
    "requested_at",
)
INSTANT = re.compile(r'("(?:' + "|".join(NOW_FIELDS) + r')": )"([0-9]{4}-[0-9]{2}-[0-9]{2}T[^"]+)"')
# Fields that carry a deadline this run's clock set (公示 now + the appeal window): replaced when later
# than the run's start.
DEADLINE = re.compile(r'("appeal_deadline": )"([0-9]{4}-[0-9]{2}-[0-9]{2}T[^"]+)"')
DURATION = re.compile(r'("duration_seconds": )[0-9.e+-]+')
EXPIRES = re.compile(r'("expires_at": )"[0-9]+"')
TOKEN = re.compile(r'("token": )"[^"]+"')
# Other fields normalised by name: the loopback ports drawn for this run, the years without a calendar
# as of today (`kaohe status`).
OTHER_FIELDS = (
    "address",
    "appeal_deadline",
    "calendar_missing",
    "duration_seconds",
    "expires_at",
    "hours_left",
    "id",
    "token",
)
ADDRESS = re.compile(r'("address": "127\.0\.0\.1:)[0-9]+"')
CALENDAR_MISSING = re.compile(r'("calendar_missing": )\[[^\]]*\]')
# A dashboard's hours left until a due instant, counted from now.
HOURS_LEFT = re.compile(r'("hours_left": )-?[0-9.e+-]+')
# An attachment's id is drawn at random when it is stored.
ATTACHMENT_ID = re.compile(r'("id": )"FJ[0-9a-f]{20}"')
# Objects that come from a protobuf map or Struct (a record's fields, an import's counts per type): the
# order of their keys is the map's, which changes from one process to the next; they are compared with
# their keys sorted (each only when sorting is all that re-printing it changes).
MAP_FIELDS = ("fields", "created", "unchanged")
MAP_OPEN = re.compile(r'^( *)"(?:' + "|".join(MAP_FIELDS) + r')": \{$')
UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclass
class Window:
    """The span of wall-clock time this run wrote in."""

    start: datetime
    end: datetime | None = None

    def holds(self, text: str) -> bool:
        """The instant text was written by this run's clock."""
        instant = _instant(text)
        end = self.end or datetime.now(UTC)
        return instant is not None and self.start - SLACK <= instant <= end + SLACK

    def follows(self, text: str) -> bool:
        """The instant text lies after the run began (a deadline counted from its clock)."""
        instant = _instant(text)
        return instant is not None and instant >= self.start - SLACK


SLACK = timedelta(seconds=2)


def _instant(text: str) -> datetime | None:
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None


def normalise(text: str, window: Window) -> str:
    """Stdout with exactly the run-dependent values (see the module's docstring) replaced."""

    def instant(match: re.Match[str]) -> str:
        return f'{match.group(1)}"<now>"' if window.holds(match.group(2)) else match.group(0)

    def deadline(match: re.Match[str]) -> str:
        return f'{match.group(1)}"<deadline>"' if window.follows(match.group(2)) else match.group(0)

    text = INSTANT.sub(instant, text)
    text = DEADLINE.sub(deadline, text)
    text = DURATION.sub(r'\1"<duration>"', text)
    text = EXPIRES.sub(r'\1"<expires>"', text)
    text = TOKEN.sub(r'\1"<token>"', text)
    text = ADDRESS.sub(r'\1<port>"', text)
    text = HOURS_LEFT.sub(r'\1"<hours>"', text)
    text = ATTACHMENT_ID.sub(r'\1"<attachment>"', text)
    text = CALENDAR_MISSING.sub(r'\1"<years>"', text)
    return _sorted_maps(text)


def _sorted_maps(text: str) -> str:
    """The MAP_FIELDS objects with their keys sorted, everything around them as it was."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        opened = MAP_OPEN.match(lines[i])
        if not opened:
            out.append(lines[i])
            i += 1
            continue
        indent = opened.group(1)
        end = next(j for j in range(i + 1, len(lines)) if lines[j] in (indent + "}", indent + "},"))
        body = [line[len(indent) :] for line in lines[i + 1 : end]]
        block = "\n".join(["{", *body, "}"])
        printed = _json_text(json.loads(block), sort_keys=False)
        if printed == block:
            block = _json_text(json.loads(block), sort_keys=True)
        out.append(lines[i])
        out.extend(indent + line for line in block.split("\n")[1:-1])
        out.append(lines[end])
        i = end + 1
    return "\n".join(out)


def _json_text(document: object, *, sort_keys: bool) -> str:
    """As the command line prints JSON (services/cli/client.py json_text), keys sorted or not."""
    text = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=sort_keys)
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@dataclass
class Golden:
    """Runs steps against the served sample county and compares (or writes) their stdout."""

    served: Served
    workdir: Path
    window: Window
    tokens: dict[str, str] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    differ: list[str] = field(default_factory=list)

    def token(self, unit: str) -> str:
        if unit not in self.tokens:
            made = self.kaohe("token", "--role", "department", "--unit", unit, "--subject", f"golden:{unit}")
            self.tokens[unit] = made.stdout.strip()
        return self.tokens[unit]

    def kaohe(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = FORKED.run([KAOHE, *args], self.served.env, cwd=self.workdir, input=stdin, timeout=300)
        if result.returncode != 0:
            raise AssertionError(f"kaohe {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def step(self, name: str, *args: str, unit: str | None = None, stdin: str | None = None) -> str:
        """`kaohe ARGS --json` (as the office, or as unit's department); its stdout, compared."""
        assert name not in self.seen, f"two steps named {name}"
        self.seen.append(name)
        extra = ("--token", self.token(unit)) if unit else ()
        out = self.kaohe(*args, *extra, "--json", stdin=stdin).stdout
        json.loads(out)  # one JSON document, nothing else
        got = normalise(out, self.window)
        path = GOLDEN / f"{name}.json"
        if REGENERATE:
            path.write_bytes(got.encode("utf-8"))
        elif not path.exists() or path.read_bytes() != got.encode("utf-8"):
            self.differ.append(name)
        return out


@dataclass
class Sample:
    """The served sample county and when its stack was started (before anything of it was written)."""

    served: Served
    started: datetime


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Sample]:
    """`kaohe serve --sample` on the frozen 2025 scheme, once the sample county is imported.

    Under load `kaohe serve` may find the three services healthy before the gateway's channel to tasks
    has reconnected, and then says the sample "was not imported" (a race of `kaohe serve`, not of this
    test): the stack is stopped and started again in a fresh directory, up to SAMPLE_ATTEMPTS times.
    """
    for attempt in range(SAMPLE_ATTEMPTS):
        home = tmp_path / f"attempt-{attempt}"
        home.mkdir()
        started = datetime.now(UTC)
        stack = start_served(home, scheme=SCHEME, extra=("--sample",))
        try:
            if _sample_imported(stack):
                yield Sample(stack, started)
                return
        finally:
            if stack.process.poll() is None:
                os.killpg(stack.process.pid, signal.SIGTERM)
                stack.process.wait(timeout=30)
    raise AssertionError(f"the sample county was not imported in {SAMPLE_ATTEMPTS} starts")


def _sample_imported(stack: Served) -> bool:
    """Waits for `kaohe serve` to say whether it imported the sample county."""
    deadline = time.monotonic() + SAMPLE_WAIT_SECONDS
    while True:
        log = stack.log.read_text()
        if SAMPLE_IMPORTED in log:
            return True
        if SAMPLE_FAILED in log:
            return False
        assert stack.process.poll() is None, log
        assert time.monotonic() < deadline, "the sample county was not imported:\n" + log
        time.sleep(0.2)


def test_every_json_command_prints_what_it_printed(sample: Sample, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    golden = Golden(sample.served, work, Window(start=sample.started))
    for phase in (_reads, _runs, _writes, _reads_after_writes):
        phase(golden)
    golden.window.end = datetime.now(UTC)
    stale = sorted(p.stem for p in GOLDEN.glob("*.json") if p.stem not in golden.seen)
    if REGENERATE:
        for name in stale:
            (GOLDEN / f"{name}.json").unlink()
        return
    assert not stale, f"golden files no step writes: {stale}"
    assert not golden.differ, _report(golden.differ, golden)


def _report(names: list[str], golden: Golden) -> str:
    return (
        f"{len(names)} command(s) print other JSON than their golden file: {names}; "
        "see the module's docstring to regenerate after a deliberate change"
    )


Phase = Callable[[Golden], None]


def _reads(g: Golden) -> None:
    """The sample county as served: every read, as the office and as a department."""
    g.step("whoami", "whoami")
    g.step("whoami-department", "whoami", unit="czj")
    g.step("status", "status")
    g.step("units-list", "units", "list")
    g.step("units-list-township", "units", "list", "--category", "township")
    g.step("persons-list", "persons", "list")
    g.step("persons-list-czj", "persons", "list", "--unit", "czj")
    g.step("persons-list-as-czj", "persons", "list", unit="czj")
    g.step("tasks-list", "tasks", "list")
    g.step("tasks-list-cgz", "tasks", "list", "--unit", "cgz")
    g.step("tasks-list-red", "tasks", "list", "--color", "red")
    g.step("tasks-list-year-czj", "tasks", "list", "--year", "2025", "--unit", "czj")
    g.step("tasks-list-page", "tasks", "list", "--page-size", "3", "--page-token", "")
    g.step("tasks-list-as-czj", "tasks", "list", unit="czj")
    for task in ("P2025-cgz", "P2025-cgz.1", "T2025-0008", "T2025-0271"):
        g.step(f"tasks-show-{task}", "tasks", "show", task)
    g.step("tasks-show-as-czj", "tasks", "show", "T2025-0271", unit="czj")
    for kind in ("error_report", "incentive", "tolerance", "accountability", "appeal", "target"):
        g.step(f"records-list-{kind}", "records", "list", "--kind", kind)
    g.step("records-list-metric_reading-czj", "records", "list", "--kind", "metric_reading", "--unit", "czj")
    g.step("records-list-all-sjj", "records", "list", "--all", "--year", "2025", "--unit", "sjj")
    g.step("appeals-list", "appeals", "list")
    g.step("appeals-list-upheld", "appeals", "list", "--state", "upheld", "--year", "2025")
    g.step("tolerance-list", "tolerance", "list")
    g.step("tolerance-list-as-mxz", "tolerance", "list", unit="mxz")
    g.step("extensions-list", "extensions", "list")
    g.step("calendar-show-2025", "calendar", "show", "--year", "2025")
    g.step("calendar-show-2024", "calendar", "show", "--year", "2024")
    g.step("attachments-list-P2025-cgz.1", "attachments", "list", "--task", "P2025-cgz.1")
    g.step("overview-2025", "overview", "--year", "2025")
    g.step("dashboard-czj-2025", "dashboard", "--unit", "czj", "--year", "2025")
    g.step("dashboard-as-cgz-2025", "dashboard", "--year", "2025", unit="cgz")
    g.step("accounts-list", "accounts", "list")
    g.kaohe("sample", "--scheme", str(SCHEME), "--out", "sample.jsonl")
    g.step("import-again", "import", "sample.jsonl")
    g.step("import-validate-only", "import", "sample.jsonl", "--validate-only")
    g.step("ledger-export", "ledger", "export", "--out", "out/ledger.jsonl")
    g.step("ledger-template", "ledger", "template", "--out", "out/template.xlsx")
    g.step("tasks-export-czj", "tasks", "export", "--unit", "czj", "--out", "out/tasks.xlsx")
    g.step(
        "bulletin-2025-Q2",
        "bulletin",
        "--period",
        "2025-Q2",
        "--as-of",
        "2025-07-01T09:00:00+08:00",
        "--out",
        "out/bulletin.docx",
    )


def _runs(g: Golden) -> None:
    """Assessment runs at fixed cutoffs, their views and documents, and 公示."""
    g.step("assess-run-2025", "assess", "run", "--year", "2025", "--as-of", "2025-12-31T23:59:59")
    g.step("assess-show-run", "assess", "show", "--run", "2025-001")
    g.step("assess-show-czj", "assess", "show", "--year", "2025", "--unit", "czj")
    g.step("ranking-run", "ranking", "--run", "2025-001")
    g.step("assess-run-interim", "assess", "run", "--year", "2025", "--as-of", "2025-06-30")
    g.step("assess-list", "assess", "list")
    g.step("assess-list-2025", "assess", "list", "--year", "2025")
    g.step("ranking-2025", "ranking", "--year", "2025")
    g.step("export-run", "export", "--run", "2025-001", "--out", "out/result.xlsx")
    g.step("results-notice", "results", "notice", "--run", "2025-001", "--out", "out/notice.docx")
    g.step(
        "results-letters-czj", "results", "letters", "--run", "2025-001", "--unit", "czj", "--out", "out/l"
    )
    g.step("results-excellent", "results", "excellent", "--run", "2025-001", "--out", "out/excellent.csv")
    g.step("assess-publish", "assess", "publish", "--run", "2025-001")
    g.step("assess-show-as-czj-published", "assess", "show", "--run", "2025-001", unit="czj")
    g.step("export-as-czj", "export", "--run", "2025-001", "--out", "out/czj.xlsx", unit="czj")


def _writes(g: Golden) -> None:
    """Writes with fixed ids, request ids and dates: tasks, records, appeals, 容错, 延期, calendar, files."""
    g.step(
        "tasks-create",
        *("tasks", "create", "--id", "GT-1", "--title", "金标准测试任务", "--type", "leader_directive"),
        *("--lead", "czj", "--co", "mzj", "--due-at", "2099-12-31T18:00:00+08:00", "--assign"),
        *("--source", "会议", "--note", "立项说明", "--request-id", "golden-create-1"),
    )
    g.step("tasks-accept", "tasks", "accept", "GT-1", "--request-id", "golden-accept-1", unit="czj")
    g.step(
        "records-add",
        *("records", "add", "error_report", "--request-id", "golden-record-1", "--fields"),
        json.dumps(
            {
                "id": "GE-1",
                "unit": "czj",
                "date": "2025-12-01",
                "category": "information",
                "description": "金标准测试差错",
                "severity": "general",
            },
            ensure_ascii=False,
        ),
    )
    g.step("records-void", "records", "void", "error_report", "E2025-002", "--reason", "金标准测试作废")
    g.step(
        "appeals-file",
        *("appeals", "file", "GS-1", "--target", "E2025-035", "--reason", "金标准测试申诉"),
        *("--date", "2026-01-05", "--request-id", "golden-appeal-1"),
        unit="czj",
    )
    g.step(
        "appeals-decide",
        *("appeals", "decide", "GS-1", "--upheld", "no", "--reason", "金标准测试裁决"),
        *("--request-id", "golden-appeal-decide-1"),
    )
    g.step(
        "tolerance-apply",
        *("tolerance", "apply", "--target-type", "task", "--target", "T2025-0372"),
        *("--reason", "金标准测试容错申请", "--id", "RC2025-101", "--request-id", "golden-tolerance-1"),
        unit="czj",
    )
    g.step(
        "tolerance-decide",
        *("tolerance", "decide", "RC2025-001", "--decision", "mitigate", "--reason", "金标准测试减轻"),
        *("--request-id", "golden-tolerance-decide-1"),
    )
    g.step(
        "extensions-request",
        *("extensions", "request", "--task", "GT-1", "--due", "2100-01-10", "--reason", "金标准测试延期"),
        *("--id", "YQ2099-001", "--request-id", "golden-extension-1"),
        unit="czj",
    )
    g.step(
        "extensions-decide",
        *("extensions", "decide", "--id", "YQ2099-001", "--approve", "--reason", "同意"),
        *("--request-id", "golden-extension-decide-1"),
    )
    notice = Path(__file__).resolve().parents[1] / "data" / "notices" / "2025.txt"
    g.step("calendar-import-2025", "calendar", "import", str(notice))
    evidence = g.workdir / "办结报告.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% golden evidence\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    added = json.loads(
        g.step("attachments-add", "attachments", "add", evidence.name, "--task", "GT-1", unit="czj")
    )
    g.step("attachments-get", "attachments", "get", added["id"], "--out", "out/evidence.pdf")
    _account_steps(g)


def _account_steps(g: Golden) -> None:
    g.step(
        "accounts-add",
        *("accounts", "add", "golden", "--role", "department", "--unit", "czj", "--name", "金标"),
        stdin="golden-password-1\n",
    )
    g.step("accounts-disable", "accounts", "disable", "golden")
    g.step("accounts-enable", "accounts", "enable", "golden")
    g.step("accounts-passwd", "accounts", "passwd", "golden", stdin="golden-password-2\n")
    login = json.loads(g.step("login", "login", "--username", "golden", stdin="golden-password-2\n"))
    token = login["token"]
    g.tokens["golden"] = token
    g.step("whoami-login", "whoami", unit="golden")
    g.step("passwd", "passwd", unit="golden", stdin="golden-password-2\ngolden-password-3\n")


def _reads_after_writes(g: Golden) -> None:
    """What the writes left, as the lists and views show it."""
    g.step("tasks-show-GT-1", "tasks", "show", "GT-1")
    g.step("tasks-list-czj-after", "tasks", "list", "--unit", "czj")
    g.step("records-list-error_report-after", "records", "list", "--kind", "error_report", "--all")
    g.step("appeals-list-after", "appeals", "list")
    g.step("tolerance-list-after", "tolerance", "list")
    g.step("extensions-list-after", "extensions", "list")
    g.step("extensions-list-task", "extensions", "list", "--task", "GT-1", unit="czj")
    g.step("calendar-show-2025-after", "calendar", "show", "--year", "2025")
    g.step("attachments-list-GT-1", "attachments", "list", "--task", "GT-1")
    g.step("accounts-list-after", "accounts", "list")
    g.step("persons-list-czj-after", "persons", "list", "--unit", "czj")
    g.step("dashboard-czj-after", "dashboard", "--unit", "czj", "--year", "2025")
