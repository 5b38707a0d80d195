"""Hypothesis against every gateway RPC, the importer and the scheme loader: no INTERNAL, no half-write.

Every method of the gateway's policy table is called with generated field values (strings with
controls, NUL, bidi marks, huge and non-decimal digits; integers at their extremes; years and page
tokens of every kind; non-finite floats), as the office and as a department, over the real
in-process stack. An answer may be any status but INTERNAL or UNKNOWN (a traceback in the log).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pool, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kaohe.gateway.v1 import gateway_pb2  # noqa: F401 (registers the descriptors)
from kaohe.scoring.v1 import scoring_pb2
from kaohe.tasks.v1 import tasks_pb2

from services.common.errors import DomainError
from services.common.scheme import load_scheme
from services.gateway.policy import POLICY
from tests.conftest import Stack, example_path

FUZZ = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
BROKEN = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
METHODS: list[MethodDescriptor] = [
    descriptor_pool.Default().FindMethodByName(path.strip("/").replace("/", ".")) for path in sorted(POLICY)
]

HOSTILE_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            "fgj",
            "czj",
            "T1",
            "E1",
            "AP1",
            "2025-001",
            "error_report",
            "appeal",
            "red",
            "assigned",
            "9" * 25,
            "²",
            "\u0661\u0662",
            "-1",
            "\x00",
            "T\x001",
            "\u202efgj",
            "\ud7ff\ufffe",
            "\x1b[2J",
            "line\u2028two",
            "2025-06-01T12:00:00+08:00",
            "9999-12-31T23:59:59+14:00",
            "0001-01-01",
            "x" * 5000,
            '"1"',
        ]
    ),
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=20),
)
HOSTILE_INT = st.one_of(
    st.sampled_from([0, -1, 1, 1989, 1990, 2025, 2100, 2101, 99999, -(2**31), 2**31 - 1]),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
HOSTILE_INT64 = st.one_of(HOSTILE_INT, st.sampled_from([-(2**63), 2**63 - 1, 2**40]))
HOSTILE_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
JSON_SCALAR = st.one_of(st.none(), st.booleans(), HOSTILE_TEXT, HOSTILE_FLOAT, st.integers(-(10**6), 10**6))
STRUCT_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_TEXT, inner, max_size=3),
    max_leaves=8,
)


def ledger_lines() -> list[str]:
    return [
        line for line in example_path("ledger.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()
    ]


LINES = ledger_lines()


def struct_of(fields: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    for key, value in fields.items():
        try:
            message.update({key: value})
        except (ValueError, TypeError):
            continue
    return message


def record_fields() -> st.SearchStrategy[struct_pb2.Struct]:
    """A record's fields: an example record with some values replaced, or anything at all."""
    scoring_lines = [
        json.loads(line) for line in LINES if json.loads(line)["type"] not in ("unit", "task", "task_event")
    ]
    based = st.tuples(
        st.sampled_from(scoring_lines), st.dictionaries(HOSTILE_TEXT, STRUCT_VALUE, max_size=2)
    ).map(lambda pair: {**{k: v for k, v in pair[0].items() if k != "type"}, **pair[1]})
    return st.one_of(based, st.dictionaries(HOSTILE_TEXT, STRUCT_VALUE, max_size=4)).map(struct_of)


# Fields that name a page, a size or a year get the values that once broke them more often.
NAMED: dict[str, st.SearchStrategy[Any]] = {
    "page_token": st.sampled_from(
        ["9" * 25, "²", "\u0661\u0662", "-1", "?!", "\x00", "MQ==", "AA==", "x" * 200]
    ),
    "page_size": st.one_of(st.sampled_from([-1, -(2**31), 2**31 - 1, 0, 1]), HOSTILE_INT),
    "year": st.one_of(st.sampled_from([-1, 0, 1989, 2025, 2101, 99999, 2**31 - 1]), HOSTILE_INT),
}


def field_strategy(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.name in NAMED and not field.is_repeated:
        return NAMED[field.name]
    if field.type == FieldDescriptor.TYPE_STRING:
        single: st.SearchStrategy[Any] = HOSTILE_TEXT
    elif field.type == FieldDescriptor.TYPE_BYTES:
        single = st.one_of(st.binary(max_size=200), mutated_ledger().map(str.encode))
    elif field.type == FieldDescriptor.TYPE_BOOL:
        single = st.booleans()
    elif field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_ENUM):
        single = HOSTILE_INT
    elif field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64):
        single = HOSTILE_INT64
    elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        single = HOSTILE_FLOAT
    elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
        if field.message_type.full_name == "google.protobuf.Struct":
            single = record_fields()
        elif depth < 2 and not field.message_type.GetOptions().map_entry:
            single = message_strategy(field.message_type, depth + 1)
        else:
            return st.nothing()
    else:
        return st.nothing()
    if field.is_repeated:
        return st.lists(single, max_size=3)
    return single


def message_strategy(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """A message of the type with each field left unset or given a hostile value."""
    cls = GetMessageClass(descriptor)
    fields = {f.name: st.one_of(st.none(), field_strategy(f, depth)) for f in descriptor.fields}

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            if value is None:
                continue
            field = descriptor.fields_by_name[name]
            try:
                if field.is_repeated:
                    getattr(message, name).extend(value)
                elif field.type == FieldDescriptor.TYPE_MESSAGE:
                    getattr(message, name).CopyFrom(value)
                else:
                    setattr(message, name, value)
            except (ValueError, TypeError):
                continue  # a value the message type cannot hold (a lone surrogate): not sendable
        return message

    if not fields:
        return st.just(cls())
    # One hostile field with the rest unset reaches the check of that field; all of them at once
    # mostly meets the first check, so both are drawn.
    one = st.sampled_from(sorted(fields)).flatmap(lambda name: fields[name].map(lambda value: {name: value}))
    return st.one_of(one, st.fixed_dictionaries(fields)).map(build)


def mutated_ledger() -> st.SearchStrategy[str]:
    """Example ledger lines, one of them mutated: a value replaced, a field dropped, bytes spliced in."""

    def mutate(index: int, how: int, key_pick: int, value: Any, cut: int, insert: str) -> str:
        lines = LINES[: index + 1]
        obj = json.loads(lines[index])
        keys = sorted(obj)
        key = keys[key_pick % len(keys)]
        if how == 0:
            obj[key] = value
            text = json.dumps(obj, ensure_ascii=False, allow_nan=True)
        elif how == 1:
            del obj[key]
            text = json.dumps(obj, ensure_ascii=False)
        elif how == 2:
            raw = lines[index]
            text = raw[: cut % (len(raw) + 1)] + insert + raw[cut % (len(raw) + 1) :]
        elif how == 3:
            text = lines[index][: cut % (len(lines[index]) + 1)]
        else:
            text = lines[index].replace(
                f'"{key}":', f'"{key}":{json.dumps(value, allow_nan=True)},"{key}":', 1
            )
        return "\n".join([*lines[:index], text])

    return st.builds(
        mutate,
        st.integers(0, len(LINES) - 1),
        st.integers(0, 4),
        st.integers(0, 20),
        STRUCT_VALUE,
        st.integers(0, 400),
        st.one_of(
            HOSTILE_TEXT, st.sampled_from(["\x00", "NaN", "9" * 400, "[" * 3000, "\\ud800", "\u2028", '"'])
        ),
    )


def call(
    stack: Stack, method: MethodDescriptor, request: Message, role: str, unit: str | None
) -> grpc.StatusCode:
    """The status the gateway answers method with."""
    channel = stack.parts.setdefault("fuzz_channel", stack.channel())
    path = f"/{method.containing_service.full_name}/{method.name}"
    response_cls = GetMessageClass(method.output_type)
    args: dict[str, Any] = {
        "request_serializer": lambda m: m.SerializeToString(),
        "response_deserializer": response_cls.FromString,
    }
    kind = {(False, False): "unary_unary", (True, False): "stream_unary", (False, True): "unary_stream"}
    invoke: Callable[..., Any] = getattr(
        channel, kind.get((method.client_streaming, method.server_streaming), "stream_stream")
    )(path, **args)
    payload: Any = iter([request]) if method.client_streaming else request
    try:
        reply = invoke(payload, metadata=stack.metadata(role, unit), timeout=60)
        if method.server_streaming:
            list(reply)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def stored(stack: Stack) -> tuple[int, int, int, int]:
    """Units, tasks, task events and records: what a refused import must leave as it was."""
    _, tasks, scoring = stack.stubs()
    md = stack.metadata()
    listed = tasks.ListTasks(tasks_pb2.ListTasksRequest(page_size=5000), metadata=md, timeout=30).tasks
    history = sum(
        len(tasks.GetTask(tasks_pb2.GetTaskRequest(id=t.id), metadata=md, timeout=30).task.history)
        for t in listed
    )
    units = tasks.ListUnits(tasks_pb2.ListUnitsRequest(page_size=5000), metadata=md, timeout=30).units
    records = scoring.ListRecords(
        scoring_pb2.ListRecordsRequest(page_size=5000, include_voided=True), metadata=md, timeout=30
    ).records
    return len(units), len(listed), history, len(records)


# One request for every method per example: each method is called as often as the examples run.
REQUESTS = st.tuples(*(message_strategy(m.input_type) for m in METHODS))


def test_the_policy_table_names_every_method_the_fuzzer_calls() -> None:
    assert len(METHODS) == len(POLICY) and all(m is not None for m in METHODS)


@settings(FUZZ, max_examples=40)
@given(requests=REQUESTS, caller=st.sampled_from([("office", None), ("department", "fgj"), ("viewer", None)]))
def test_no_gateway_rpc_answers_internal(example: Stack, requests: tuple[Message, ...], caller: Any) -> None:
    for method, request in zip(METHODS, requests, strict=True):
        code = call(example, method, request, *caller)
        assert code not in BROKEN, (method.full_name, str(request)[:300], caller)


SWEEP_TEXT = [
    "\x00",
    "T\x001",
    "\u202efgj",
    "\x1b[2J",
    "x" * 3000,
    "9" * 25,
    "²",
    "\u0661",
    "-1",
    "fgj",
    "T1",
]
SWEEP_INT = [-1, -(2**31), 2**31 - 1, 1989, 2101, 99999]
SWEEP_INT64 = [*SWEEP_INT, -(2**63), 2**63 - 1]
SWEEP_FLOAT = [float("nan"), float("inf"), -float("inf"), 1e308]


def sweep_values(field: FieldDescriptor) -> list[Any]:
    """The fixed hostile values of a field's type (one at a time, the rest of the request unset)."""
    if field.message_type is not None and field.message_type.full_name == "google.protobuf.Struct":
        return [
            struct_of({"id": "E1", "unit": "fgj", "date": v}) for v in (float("nan"), "\x00", [[[[[1]]]]])
        ]
    values = {
        FieldDescriptor.TYPE_STRING: SWEEP_TEXT,
        FieldDescriptor.TYPE_INT32: SWEEP_INT,
        FieldDescriptor.TYPE_INT64: SWEEP_INT64,
        FieldDescriptor.TYPE_DOUBLE: SWEEP_FLOAT,
        FieldDescriptor.TYPE_BYTES: [b"\xff\xfe", b'{"type":"unit","id":"x","x":NaN}', b"[" * 50000],
    }.get(field.type, [])
    return [[v] for v in values] if field.is_repeated else list(values)


def test_each_field_of_each_rpc_with_each_hostile_value(example: Stack) -> None:
    """A deterministic sweep beside the random one: every field alone, every value of its type's list."""
    broken = []
    for method in METHODS:
        cls = GetMessageClass(method.input_type)
        for field in method.input_type.fields:
            for value in sweep_values(field):
                request = cls()
                if field.is_repeated:
                    getattr(request, field.name).extend(value)
                elif field.type == FieldDescriptor.TYPE_MESSAGE:
                    getattr(request, field.name).CopyFrom(value)
                else:
                    setattr(request, field.name, value)
                for caller in (("office", None), ("department", "fgj")):
                    code = call(example, method, request, *caller)
                    if code in BROKEN:
                        broken.append((method.name, field.name, repr(value)[:40], caller[0], code.name))
    assert not broken, broken


@FUZZ
@given(text=mutated_ledger())
def test_a_mutated_ledger_is_imported_or_refused_whole(example: Stack, text: str) -> None:
    before = stored(example)
    try:
        example.import_ledger(text.encode("utf-8", "surrogatepass"))
    except grpc.RpcError as exc:
        assert exc.code() not in BROKEN, (exc.code(), exc.details(), text[-300:])
        assert stored(example) == before, text[-300:]


SCHEME = example_path("scheme.toml").read_text(encoding="utf-8")
VALUE_AT = re.compile(r"= .*$", re.M)


def mutated_scheme() -> st.SearchStrategy[str]:
    def mutate(how: int, at: int, insert: str, span: int) -> str:
        point = at % (len(SCHEME) + 1)
        if how == 0:
            return SCHEME[:point] + insert + SCHEME[point:]
        if how == 1:
            return SCHEME[:point] + SCHEME[point + span :]
        if how == 2:
            values = list(VALUE_AT.finditer(SCHEME))
            match = values[at % len(values)]
            return SCHEME[: match.start()] + "= " + insert + SCHEME[match.end() :]
        return SCHEME + "\nx = " + "[" * span + "]" * span

    return st.builds(
        mutate,
        st.integers(0, 3),
        st.integers(0, 10**6),
        st.one_of(
            HOSTILE_TEXT,
            st.sampled_from(
                ['"\x00"', "nan", "inf", "-1", "1e309", "9" * 400, "[[[[[[[[1]]]]]]]]", "{a={b={c=1}}}"]
            ),
        ),
        st.integers(0, 5000),
    )


@settings(max_examples=150, deadline=None, derandomize=True)
@given(text=mutated_scheme())
def test_a_mutated_scheme_loads_or_is_refused_as_invalid(text: str) -> None:
    """Any exception but a domain error (SchemeInvalid) would be INTERNAL where a scheme is sent."""
    with contextlib.suppress(DomainError):
        load_scheme(text, source="fuzz")


@FUZZ
@given(text=mutated_scheme())
def test_a_mutated_scheme_sent_with_a_run_is_never_internal(example: Stack, text: str) -> None:
    _, _, scoring = example.stubs()
    try:
        scoring.CreateRun(
            scoring_pb2.CreateRunRequest(year=2025, scheme_toml=text), metadata=example.metadata(), timeout=60
        )
    except grpc.RpcError as exc:
        assert exc.code() not in BROKEN, (exc.code(), exc.details())
