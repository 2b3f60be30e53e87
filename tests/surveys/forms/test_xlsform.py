"""XLSForm: round trip, the standard XLSForm spellings, and every bad row reported."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from tests.surveys.forms.factories import survey_body
from tests.surveys.forms.fixtures import World


def _upload(client: TestClient, admin: dict[str, str], data: bytes) -> Any:
    return client.post(
        "/api/v1/surveys/import",
        files={"file": ("form.xlsx", data, "application/octet-stream")},
        headers=admin,
    )


def _questions(client: TestClient, admin: dict[str, str], sid: int) -> list[dict[str, Any]]:
    body = client.get(f"/api/v1/surveys/{sid}", headers=admin).json()
    return [{k: v for k, v in q.items()} for q in body["questions"]]


def test_round_trip(client: TestClient, world: World) -> None:
    extra = survey_body()["questions"] + [
        {
            "key": "why",
            "type": "text",
            "label": "原因",
            "label_en": "Why",
            "show_if": {"key": "attitude", "op": "le", "value": 2},
        },
        {
            "key": "which",
            "type": "single_choice",
            "label": "哪类",
            "options": [{"value": "a", "label": "甲"}, {"value": "b", "label": "乙"}],
            "show_if": {"key": "online_issue", "op": "in", "value": ["slow", "login"]},
        },
        {
            "key": "stars",
            "type": "rating",
            "label": "星级",
            "scale_min": 0,
            "scale_max": 10,
            "dimension": "results",
        },
    ]
    r = client.post("/api/v1/surveys", json=survey_body(questions=extra), headers=world.admin)
    sid = r.json()["id"]
    r = client.get(f"/api/v1/surveys/{sid}/xlsform", headers=world.admin)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["survey", "choices", "settings"]
    header = [c.value for c in wb["survey"][1]]
    assert {"type", "name", "label::zh", "label::en", "relevant"} <= set(header)
    types = [row[0] for row in wb["survey"].iter_rows(min_row=2, values_only=True)]
    assert (
        "range" in types
        and "select_one channel" in types
        and "select_multiple online_issue" in types
    )
    again = _upload(client, world.admin, r.content)
    assert again.status_code == 201, again.text
    new_id = again.json()["id"]
    assert new_id != sid
    assert _questions(client, world.admin, new_id) == _questions(client, world.admin, sid)
    b = client.get(f"/api/v1/surveys/{new_id}", headers=world.admin).json()
    assert (b["title"], b["title_en"]) == ("政风行风评议", "Public service review")


def _workbook(
    survey: list[list[Any]], choices: list[list[Any]] | None = None, title: str = "问卷"
) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "survey"
    for row in survey:
        ws.append(row)
    if choices is not None:
        c = wb.create_sheet("choices")
        for row in choices:
            c.append(row)
    s = wb.create_sheet("settings")
    s.append(["form_title"])
    s.append([title])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_standard_spellings(client: TestClient, world: World) -> None:
    data = _workbook(
        [
            [
                "type",
                "name",
                "label::Chinese (zh)",
                "label::English (en)",
                "required",
                "relevant",
                "parameters",
                "dimension",
            ],
            ["range", "att", "服务态度", "Attitude", "yes", "", "start=1 end=5 step=1", "attitude"],
            ["select_one yn", "ok", "办好了吗", "Done?", "TRUE", "", "", ""],
            ["integer", "n", "几次", "", "", "${ok} = 'no'", "", ""],
            ["select_multiple why", "why", "原因", "", "", "${att} <= 2", "", ""],
        ],
        [
            ["list_name", "name", "label::zh", "label::en"],
            ["yn", "yes", "是", "Yes"],
            ["yn", "no", "否", "No"],
            ["why", "slow", "慢", "Slow"],
        ],
    )
    r = _upload(client, world.admin, data)
    assert r.status_code == 201, r.text
    qs = _questions(client, world.admin, r.json()["id"])
    assert [(q["key"], q["type"]) for q in qs] == [
        ("att", "rating"),
        ("ok", "single_choice"),
        ("n", "number"),
        ("why", "multi_choice"),
    ]
    assert qs[0]["required"] and qs[1]["required"] and not qs[2]["required"]
    assert qs[2]["show_if"] == {"key": "ok", "op": "eq", "value": "no"}
    assert qs[3]["show_if"] == {"key": "att", "op": "le", "value": 2}


def test_every_bad_row_is_reported(client: TestClient, world: World) -> None:
    data = _workbook(
        [
            ["type", "name", "label::zh", "required", "relevant"],
            ["range", "att", "服务态度", "yes", ""],
            ["geopoint", "where", "位置", "", ""],  # row 3: unsupported type
            ["select_one nolist", "pick", "选", "", ""],  # row 4: missing list
            ["text", "att", "重复", "", ""],  # row 5: duplicate name
            ["text", "later", "之后", "", "${ghost} = 'x'"],  # row 6: unknown question
            ["text", "", "无名", "", ""],  # row 7: no name
            ["text", "fine", "好", "maybe", ""],  # row 8: bad required
            ["text", "cond", "条件", "", "${att} ~ 3"],  # row 9: unreadable relevant
        ],
        [["list_name", "name", "label::zh"], ["yn", "", "是"]],  # choices row 2: no name
    )
    r = _upload(client, world.admin, data)
    assert r.status_code == 422
    found = {(e["sheet"], e["row"]) for e in r.json()["detail"]}
    assert found == {
        ("survey", 3),
        ("survey", 4),
        ("survey", 5),
        ("survey", 6),
        ("survey", 7),
        ("survey", 8),
        ("survey", 9),
        ("choices", 2),
    }, r.text
    assert all(e["loc"][:2] == [e["sheet"], e["row"]] for e in r.json()["detail"])
    r = _upload(client, world.admin, b"not a workbook")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["file"]
    assert (
        client.post("/api/v1/surveys/import", files={"file": ("f.xlsx", data)}).status_code == 401
    )
