"""Who may call what: one table, enforced by the gateway and again by the service a call reaches."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from services.common.auth import GATEWAY_SUBJECT, INTERNAL_ROLE, Identity
from services.common.errors import PermissionDenied
from services.common.vocabulary import ROLES, label_of

ALL = frozenset(ROLES)
READERS = frozenset({"office", "supervisor", "viewer"})
OFFICE = frozenset({"office"})
SUPERVISION = frozenset({"office", "supervisor"})
UNIT_WORK = frozenset({"office", "department"})
# A 乡镇's account supervises its 村's tasks (the tasks service holds it to the units under its own).
DISPATCH = frozenset({"office", "supervisor", "department"})

TASKS = "/kaohe.tasks.v1.TasksService/"
TASKS_INTERNAL = "/kaohe.tasks.v1.TasksInternalService/"
SCORING = "/kaohe.scoring.v1.ScoringService/"
SCORING_INTERNAL = "/kaohe.scoring.v1.ScoringInternalService/"
GATEWAY = "/kaohe.gateway.v1.GatewayService/"


@dataclass(frozen=True)
class Rule:
    """The roles that may call a method, and how a department is held to its own unit.

    scope "unit": the request's `unit` field is forced to the department's unit (another unit is refused);
    scope "own": the backend checks the resource belongs to the department's unit (tasks by lead/co-unit,
    results by unit and publication); scope "": no unit data involved.
    """

    roles: frozenset[str]
    scope: str = ""
    # Roles the gateway's own views (its ImportLedger) may relay this otherwise internal method for.
    relayed: frozenset[str] = frozenset()
    # Whether the scoring service may call it as itself (SYSTEM), for a run's units and facts.
    system: bool = False
    # A department may name the units under its own (a 乡镇 its 村): the backend checks the unit's parent.
    below: bool = False
    # Whether the gateway may call it as itself (GATEWAY): the version it keeps its cached views by.
    gateway: bool = False


POLICY: dict[str, Rule] = {
    TASKS + "ListUnits": Rule(ALL, system=True),
    TASKS + "GetTask": Rule(ALL, "own"),
    TASKS + "ListTasks": Rule(ALL, "unit", below=True),
    # A department dispatches only to the units under its own (a 乡镇 to its 村): tasks checks the parent.
    TASKS + "CreateTask": Rule(DISPATCH),
    TASKS + "AssignTask": Rule(DISPATCH),
    TASKS + "AcceptTask": Rule(UNIT_WORK, "own"),
    TASKS + "ReportProgress": Rule(UNIT_WORK, "own"),
    TASKS + "ReportTask": Rule(UNIT_WORK, "own"),
    TASKS + "VerifyTask": Rule(DISPATCH),
    TASKS + "RejectTask": Rule(DISPATCH),
    TASKS + "CloseTask": Rule(DISPATCH),
    TASKS + "CancelTask": Rule(DISPATCH),
    # A department: its own line, a 乡镇 its 村's too (or one of them it names): tasks checks the reach.
    TASKS + "SummarizeTasks": Rule(ALL, "unit", below=True),
    # A department: its own line, and a 乡镇 its 村's too (or one of them it names); never another 乡镇's.
    TASKS + "GetOverdueTrend": Rule(ALL, "unit", below=True),
    TASKS + "FileExtension": Rule(UNIT_WORK, "own"),  # a department: on tasks its unit leads
    TASKS + "DecideExtension": Rule(OFFICE),
    TASKS + "ListExtensions": Rule(ALL, "unit"),  # a department: its own unit's requests only
    TASKS + "GetVersion": Rule(ALL),  # a counter and an instant: no unit's data
    TASKS + "ImportHolidayNotice": Rule(OFFICE),
    TASKS + "GetCalendar": Rule(ALL),  # the State Council's calendar: no unit's data
    # A department: its own people (a 乡镇 also its 村's); mobiles only to the office and the own unit.
    TASKS + "ListPersons": Rule(ALL, "unit", below=True),
    SCORING + "GetScheme": Rule(ALL),
    SCORING + "CreateRecord": Rule(UNIT_WORK, "own"),  # a department files appeals on its own reports only
    SCORING + "ListRecords": Rule(ALL, "unit"),
    SCORING + "VoidRecord": Rule(OFFICE),
    SCORING + "DecideAppeal": Rule(OFFICE),
    SCORING + "ListAppeals": Rule(ALL, "unit"),  # a department: the appeals on its own unit's records
    SCORING + "FileApplication": Rule(UNIT_WORK, "unit"),  # a department applies for its own unit
    SCORING + "DecideApplication": Rule(OFFICE),
    SCORING + "ListApplications": Rule(ALL, "unit"),
    SCORING + "CreateRun": Rule(OFFICE),
    SCORING + "GetRun": Rule(ALL, "unit"),  # a department: its own line, once publicised
    SCORING + "ListRuns": Rule(ALL, "own"),
    SCORING + "PublishRun": Rule(OFFICE),
    SCORING + "FinalizeRun": Rule(OFFICE),
    # A department: its own line, a 乡镇 its 村's too (or one of them it names): scoring checks the reach.
    SCORING + "PreviewAssessment": Rule(ALL, "unit", below=True),
    GATEWAY + "WhoAmI": Rule(ALL),
    GATEWAY + "ImportLedger": Rule(OFFICE),
    # A department's overview holds its own line only, a 乡镇's its 村's lines too; never another 乡镇's.
    GATEWAY + "GetOverview": Rule(ALL, "own"),
    # A department's own dashboard (a 乡镇's with its 村's lines), or one of its 村's it names.
    GATEWAY + "GetDashboard": Rule(ALL, "unit", below=True),
    GATEWAY + "GetRanking": Rule(READERS),
    GATEWAY + "ExportRun": Rule(ALL, "unit"),  # a department: its own line, once publicised
    GATEWAY + "GetBulletin": Rule(READERS),  # names every unit: the office's circular, not a department's
    # The whole ledger, every unit's records: the office's, read from both services by the gateway only.
    GATEWAY + "ExportLedger": Rule(OFFICE),
    GATEWAY + "GetResultNotice": Rule(READERS),  # names every unit's grade
    GATEWAY + "GetResultLetter": Rule(ALL, "unit"),  # a department: its own letter, once publicised
    GATEWAY + "GetExcellentList": Rule(READERS),
    # 附件: whoever may see the item (tasks checks it: a department its own unit's, a 乡镇 also its 村's);
    # files come with the work — the units doing it and those supervising it, not a viewer.
    TASKS + "UploadAttachment": Rule(DISPATCH, "own"),
    TASKS + "ListAttachments": Rule(ALL, "own"),
    TASKS + "DownloadAttachment": Rule(ALL, "own"),
    # 附件 on appeals and 容错 applications: a department its own unit's (scoring checks the item's unit).
    SCORING + "UploadAttachment": Rule(UNIT_WORK, "own"),
    SCORING + "ListAttachments": Rule(ALL, "own"),
    SCORING + "DownloadAttachment": Rule(ALL, "own"),
}

# The internal services' methods: only the services call them, the gateway never proxies them (its table is
# POLICY alone); the internal hop holds each to its calling service and the identity it acts for.
INTERNAL_POLICY: dict[str, Rule] = {
    # The gateway's ImportLedger and ExportLedger relay the office's call.
    TASKS_INTERNAL + "ImportLedger": Rule(frozenset(), relayed=OFFICE),
    TASKS_INTERNAL + "ExportLedger": Rule(frozenset(), relayed=OFFICE),
    # Scoring's recovery of an import a crash left staged: it asks as itself, on start-up and later.
    TASKS_INTERNAL + "ResolveImport": Rule(frozenset(), system=True),
    TASKS_INTERNAL + "LookupTasks": Rule(frozenset(), system=True),
    TASKS_INTERNAL + "GetTimelinessFacts": Rule(frozenset(), system=True),
    TASKS_INTERNAL + "ListHolidayNotices": Rule(frozenset(), system=True),
    SCORING_INTERNAL + "ImportRecords": Rule(frozenset(), relayed=OFFICE),
    SCORING_INTERNAL + "CommitImport": Rule(frozenset(), relayed=OFFICE),
    SCORING_INTERNAL + "AbortImport": Rule(frozenset(), relayed=OFFICE),
    # The gateway's cached views ask it for whoever looks: a counter and a digest, no unit's data.
    SCORING_INTERNAL + "GetVersion": Rule(frozenset(), relayed=ALL),
    # The whole ledger, every unit's records: the office's, read by the gateway's ledger export.
    SCORING_INTERNAL + "ExportRecords": Rule(frozenset(), relayed=OFFICE),
    # The versions pushed to the gateway for its cached views (for nobody in particular): no unit's data.
    TASKS_INTERNAL + "WatchVersion": Rule(frozenset(), gateway=True),
    SCORING_INTERNAL + "WatchVersion": Rule(frozenset(), gateway=True),
}


def authorize(identity: Identity, method: str) -> Rule:
    """The rule of method when identity's role may call it; PermissionDenied otherwise."""
    rule = POLICY.get(method)
    name = method.rsplit("/", 1)[-1]
    if rule is None or identity.role not in rule.roles:
        raise PermissionDenied(f"{label_of(ROLES, identity.role)}角色不能调用 {name}")
    if identity.is_department and not identity.unit:
        # Scoping treats "no unit" as "every unit", so a department must always name its own.
        raise PermissionDenied(f"未绑定单位的部门令牌不能调用 {name}")
    return rule


def scoped_unit(identity: Identity, requested: str, *, below: bool = False) -> str:
    """The unit a department's request may concern: its own; another one is refused.

    below: the method's backend also takes the units under the department's (a 乡镇's 村) and checks
    the unit's parent itself, so another unit is passed on for it to decide.
    """
    if not identity.is_department:
        return requested
    if below and requested:
        return requested
    if requested and requested != identity.unit:
        raise PermissionDenied(f"单位 {identity.unit} 不能查看或办理单位 {requested} 的事项")
    return identity.unit


def reach(identity: Identity, requested: str, below: Collection[str], what: str) -> tuple[str, ...]:
    """The units a read concerns (none: every unit); below: the units under the department's (its 村).

    A department: its own and the units under it (a 乡镇 with its 村), or one of those it names; another
    unit is refused. Other roles: the unit named, or every unit.
    """
    if not identity.is_department:
        return (requested,) if requested else ()
    if requested and requested != identity.unit:
        if requested not in below:
            raise PermissionDenied(f"单位 {identity.unit} 不能查看单位 {requested} 的{what}")
        return (requested,)
    return (identity.unit, *sorted(below))


def authorize_hop(identity: Identity, method: str, *, peer: str | None, mutual_tls: bool) -> Rule:
    """Defence in depth at tasks and scoring: the identity a hop carries may call method, from that peer.

    A person's identity counts only when the gateway relays it, SYSTEM only when scoring sends it and
    GATEWAY only when the gateway does; with mutual_tls False (loopback development) there is no verified
    peer and the credential alone decides.
    """
    rule = POLICY.get(method) or INTERNAL_POLICY.get(method)
    name = method.rsplit("/", 1)[-1]
    if rule is None:
        raise PermissionDenied(f"{name} 不对外提供")
    if identity.role == INTERNAL_ROLE and identity.subject == GATEWAY_SUBJECT:
        if not rule.gateway or (mutual_tls and peer != "gateway"):
            raise PermissionDenied(f"网关自身身份不能从 {peer or '这里'} 调用 {name}")
        return rule
    if identity.role == INTERNAL_ROLE:
        if not rule.system or (mutual_tls and peer != "scoring"):
            raise PermissionDenied(f"系统身份不能从 {peer or '这里'} 调用 {name}")
        return rule
    if mutual_tls and peer != "gateway":
        raise PermissionDenied(f"个人对 {name} 的调用须经网关")
    if identity.role not in rule.roles | rule.relayed:
        raise PermissionDenied(f"{label_of(ROLES, identity.role)}角色不能调用 {name}")
    if identity.is_department and not identity.unit:
        raise PermissionDenied(f"未绑定单位的部门令牌不能调用 {name}")
    return rule
