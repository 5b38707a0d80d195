"""结果运用: the notice, each unit's letter and the 优秀 list, opened and checked against the run."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import grpc
import pytest
from docx import Document
from kaohe.gateway.v1 import gateway_pb2
from kaohe.scoring.v1 import scoring_pb2

from services.common.result_wire import result_to_json_dict
from services.common.vocabulary import GRADES, UNIT_CATEGORIES
from services.gateway.results import issuer_of
from tests.conftest import Stack
from tests.integration.test_runs import create_run, publish


def gateway(stack: Stack) -> Any:
    return stack.stubs()[0]


def texts(content: bytes) -> tuple[list[str], list[list[list[str]]]]:
    """The paragraphs and the tables (rows of cell texts) of a .docx."""
    doc = Document(io.BytesIO(content))
    tables = [[[cell.text for cell in row.cells] for row in table.rows] for table in doc.tables]
    return [p.text for p in doc.paragraphs], tables


def units_of(run: Any) -> dict[str, dict[str, Any]]:
    return {u["unit"]: u for u in result_to_json_dict(run.result)["units"]}


def test_the_notice_lists_every_unit_under_its_grade_with_its_total(example: Stack) -> None:
    run = create_run(example)
    units = units_of(run)
    reply = gateway(example).GetResultNotice(
        gateway_pb2.GetResultNoticeRequest(run=run.id), metadata=example.metadata(), timeout=60
    )
    paragraphs, tables = texts(reply.content)
    body = "\n".join(paragraphs)
    assert reply.title == "关于2025年度目标责任考核结果的通报" and reply.title in body
    # The example's scheme names no issuer: the default.
    assert "考核办公室" in paragraphs[0]
    for unit in units.values():
        grade = GRADES[unit["grade"]]
        assert any(p.startswith(f"{grade}（") and unit["name"] in p for p in paragraphs), (grade, unit)
    rows = [row for table in tables for row in table[1:]]
    assert sorted((r[1], r[2], r[0]) for r in rows) == sorted(
        (u["name"], f"{u['total']:.2f}", str(u["rank"])) for u in units.values()
    )
    assert sorted(reply.units) == sorted(units)


def test_each_letter_states_the_units_total_grade_rank_and_every_point(example: Stack) -> None:
    run = create_run(example)
    document = result_to_json_dict(
        example.stubs()[2]
        .GetRun(scoring_pb2.GetRunRequest(id=run.id), metadata=example.metadata(), timeout=30)
        .run.result
    )
    for unit in document["units"]:
        reply = gateway(example).GetResultLetter(
            gateway_pb2.GetResultLetterRequest(run=run.id, unit=unit["unit"]),
            metadata=example.metadata(),
            timeout=60,
        )
        assert reply.filename == f"{unit['unit']}.docx"
        paragraphs, tables = texts(reply.content)
        body = "\n".join(paragraphs)
        assert f"总分{unit['total']:.2f}分" in body
        peers = sum(1 for u in document["units"] if u["category"] == unit["category"])
        label = UNIT_CATEGORIES[unit["category"]]
        assert f"在{label}{peers}个单位中排第{unit['rank']}名" in body, body
        assert f"等次为{GRADES[unit['grade']]}" in body
        summary = {row[0]: row[1] for row in tables[0]}
        assert summary["总分"] == f"{unit['total']:.2f}"
        assert summary["激励加分"] == f"{unit['bonus']:.2f}"
        assert summary["差错扣分"] == f"{unit['error_deduction']:.2f}"
        assert summary["基础分（百分制）"].startswith(f"{unit['base']:.2f}")
        lines = tables[1][1:] if len(tables) > 1 else []
        breakdown = unit["breakdown"]
        expected = (
            len(breakdown["tasks"])
            + len(breakdown["metrics"])
            + len(breakdown["errors"])
            + len(breakdown["incentives"])
            + len(breakdown["accountability"])
        )
        assert len(lines) >= expected
        # Every error report is there with its reason (its description in the ledger).
        for error in breakdown["errors"]:
            assert any(error["id"] in r[1] for r in lines)
        # Gained and lost points of the timeliness lines add up to what the unit lost there.
        lost = sum(_points(r[2]) for r in lines if r[0] == "办理时效")
        assert lost == pytest.approx(
            unit["timeliness_earned"] - unit["timeliness_max"], abs=0.01 * len(lines) + 0.01
        )
    fgj = gateway(example).GetResultLetter(
        gateway_pb2.GetResultLetterRequest(run=run.id, unit="fgj"), metadata=example.metadata(), timeout=60
    )
    assert "报送材料数据口径不一致" in "".join(c for t in texts(fgj.content)[1] for r in t for c in r)


def _points(text: str) -> float:
    return float(text.replace("−", "-").replace("+", ""))


def test_the_excellent_list_is_the_runs_excellent_units(example: Stack) -> None:
    run = create_run(example)
    units = units_of(run)
    reply = gateway(example).GetExcellentList(
        gateway_pb2.GetExcellentListRequest(run=run.id), metadata=example.metadata(), timeout=60
    )
    rows = list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["年度", "类别", "名次", "单位代码", "单位"]
    assert sorted(r[3] for r in rows[1:]) == sorted(u for u, v in units.items() if v["grade"] == "excellent")
    assert all(r[5] == f"{units[r[3]]['total']:.2f}" for r in rows[1:])


def test_a_department_gets_its_own_letter_once_publicised_and_no_other(example: Stack) -> None:
    run = create_run(example)
    md = example.metadata("department", "fgj")

    def letter(unit: str) -> Any:
        request = gateway_pb2.GetResultLetterRequest(run=run.id, unit=unit)
        return gateway(example).GetResultLetter(request, metadata=md, timeout=60)

    with pytest.raises(grpc.RpcError) as draft:
        letter("fgj")
    assert draft.value.code() == grpc.StatusCode.NOT_FOUND
    publish(example, run.id)
    assert letter("fgj").unit == "fgj"
    with pytest.raises(grpc.RpcError) as other:
        letter("czj")
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as notice:
        gateway(example).GetResultNotice(
            gateway_pb2.GetResultNoticeRequest(run=run.id), metadata=md, timeout=60
        )
    assert notice.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_issuer_and_jurisdiction_come_from_the_scheme_or_default() -> None:
    assert issuer_of('[scheme]\njurisdiction = "宁强县"\n[bulletin]\nissuer = "县委督查室"\n') == (
        "县委督查室",
        "宁强县",
    )
    assert issuer_of("[scheme]\nid = 'x'\n") == ("考核办公室", "")


def test_a_letter_names_the_person_concerned_and_the_deciding_body_of_an_accountability(
    example: Stack,
) -> None:
    """宁强 20: the letter says who is concerned and who decided; the unit deduction stays the scheme's."""
    named = {
        "type": "accountability",
        "id": "A9",
        "unit": "fgj",
        "date": "2025-10-15",
        "kind": "interview",
        "reason": "项目推进不力，工作约谈",
        "person": "张三",
        "decided_by": "县纪委监委",
    }
    example.import_ledger(json.dumps(named, ensure_ascii=False).encode())
    run = create_run(example)
    fgj = units_of(run)["fgj"]
    (line,) = [a for a in fgj["breakdown"]["accountability"] if a["id"] == "A9"]
    reply = gateway(example).GetResultLetter(
        gateway_pb2.GetResultLetterRequest(run=run.id, unit="fgj"), metadata=example.metadata(), timeout=60
    )
    _, tables = texts(reply.content)
    (row,) = [r for t in tables[1:] for r in t if "A9" in r[1]]
    assert "项目推进不力，工作约谈；当事人：张三；决定机关：县纪委监委" in row[3]
    assert "问责扣减单位分数系考核方案的规定" in row[3]
    assert _points(row[2]) == pytest.approx(-line["points"])
    summary = {r[0]: r[1] for r in tables[0]}
    assert summary["问责扣分（考核方案规定的单位扣分）"] == f"{fgj['accountability_deduction']:.2f}"
    # A record without them reads as before: its reason alone.
    czj = gateway(example).GetResultLetter(
        gateway_pb2.GetResultLetterRequest(run=run.id, unit="czj"), metadata=example.metadata(), timeout=60
    )
    (plain,) = [r for t in texts(czj.content)[1][1:] for r in t if "A1" in r[1]]
    assert "当事人" not in plain[3] and "决定机关" not in plain[3]
