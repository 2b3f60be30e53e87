"""The console's questionnaire pages in the test client: who may open them, the list, the builder's
save (valid, refused with each error beside its question, a new version once responses exist),
the preview drawn by the resident form's template, and the XLSForm upload naming bad rows."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import html as html_lib
import io
import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlmodel import Session, col, select

from service.models import Role, User
from surveys.forms.models import Question, Survey
from tests.factories import make_user
from tests.frontend.test_admin_pages import as_user, audit_actions
from tests.surveys.forms.factories import response_body, survey_body
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)

PAGES = ("/admin/surveys", "/admin/surveys/new", "/admin/surveys/1")
ERROR = re.compile(r'class="field-error" id="err-([\w-]+)">([^<]*)<')


def errors_of(page: str) -> dict[str, str]:
    return {k: html_lib.unescape(v) for k, v in ERROR.findall(page)}


def console_admin(app: FastAPI, client: TestClient, session: Session) -> tuple[User, str]:
    user = session.exec(select(User).where(User.role == Role.admin)).first()
    user = user or make_user(session, Role.admin, "boss")
    return user, as_user(app, client, user)


def saved_id(location: str, done: str) -> int:
    """The questionnaire a save redirected to, checking what the flash will say."""
    match = re.fullmatch(rf"/admin/surveys/(\d+)\?done={done}&v=\d+", location)
    assert match, location
    return int(match.group(1))


def builder_form(csrf: str, questions: list[dict[str, Any]], **titles: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "title": titles.get("title", "窗口服务评价"),
        "title_en": titles.get("title_en", "Service window review"),
        "description": "",
        "definition": json.dumps({"questions": questions}, ensure_ascii=False),
    }


THREE: list[dict[str, Any]] = [
    {"key": "overall", "type": "rating", "label": "总体满意度", "label_en": "Overall",
     "dimension": "attitude", "scale_min": 1, "scale_max": 5, "required": True},
    {"key": "channel", "type": "single_choice", "label": "办理渠道", "label_en": "Channel",
     "options": [{"value": "hall", "label": "大厅", "label_en": "Hall"},
                 {"value": "online", "label": "网上", "label_en": "Online"}]},
    {"key": "why", "type": "text", "label": "网上办理哪里不方便？", "label_en": "What was hard?",
     "show_if": {"key": "channel", "op": "eq", "value": "online"}},
]  # fmt: skip


def test_anonymous_are_sent_to_login_and_others_get_403(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = client.post("/admin/surveys/new", data={"title": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?")
    for role in (Role.evaluator, Role.deputy):
        user = make_user(session, role)
        csrf = as_user(app, client, user)
        for path in PAGES:
            r = client.get(path)
            assert r.status_code == 403 and "您没有权限查看此页面" in r.text
        r = client.post("/admin/surveys/new", data=builder_form(csrf, THREE))
        assert r.status_code == 403
        r = client.post("/admin/surveys/preview", data={"definition": "[]", "csrf_token": csrf})
        assert r.status_code == 403
    assert session.exec(select(Survey)).first() is None


def test_list_shows_versions_questions_campaigns_and_downloads(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    console_admin(app, client, session)
    page = client.get("/admin/surveys")
    assert page.status_code == 200
    row = page.text.split(f'id="survey-{world.survey_id}"')[1].split("</tr>")[0]
    assert "政风行风评议" in row and "v1" in row
    assert f">{len(survey_body()['questions'])}</td>" in row
    assert f'href="/admin/campaigns/{world.campaign_id}"' in row
    assert f'href="/api/v1/surveys/{world.survey_id}/xlsform"' in row
    assert 'href="/admin/surveys/new"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    en = client.get("/admin/surveys?lang=en")
    assert "Questionnaires" in en.text and "Public service review" in en.text
    download = client.get(f"/api/v1/surveys/{world.survey_id}/xlsform")
    assert download.status_code == 200 and download.content[:2] == b"PK"


def test_builder_creates_a_questionnaire_audited_and_shows_it_again(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin_user, csrf = console_admin(app, client, session)
    new = client.get("/admin/surveys/new")
    assert new.status_code == 200
    assert 'id="definition"' in new.text and "/static/js/survey_builder.js" in new.text
    assert "/static/css/survey_builder.css" in new.text
    r = client.post("/admin/surveys/new", data=builder_form(csrf, THREE), follow_redirects=False)
    assert r.status_code == 303, r.text
    sid = saved_id(r.headers["location"], "created")
    stored = session.exec(
        select(Question).where(Question.survey_id == sid).order_by(col(Question.position))
    ).all()
    assert [q.key for q in stored] == ["overall", "channel", "why"]
    assert stored[2].show_if == {"key": "channel", "op": "eq", "value": "online"}
    assert (admin_user.username, "survey.create", str(sid)) in audit_actions(session)
    page = client.get(r.headers["location"])
    assert "已新建问卷（v1）。" in page.text
    assert 'value="窗口服务评价"' in page.text
    # The definition as the API takes it, and the preview drawn by the resident form.
    shown = re.search(r'<textarea name="definition"[^>]*>([^<]*)</textarea>', page.text)
    assert (
        shown and json.loads(html_lib.unescape(shown.group(1)))["questions"][1]["key"] == "channel"
    )
    assert 'id="q-overall"' in page.text and 'name="a.channel" value="online"' in page.text
    # The API reads the same questionnaire.
    api = client.get(f"/api/v1/surveys/{sid}")
    assert [q["key"] for q in api.json()["questions"]] == ["overall", "channel", "why"]


def test_refused_save_names_each_error_beside_its_question_and_keeps_input(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    _, csrf = console_admin(app, client, session)
    bad: list[dict[str, Any]] = [
        {"key": "overall", "type": "rating", "label": "总体", "scale_min": 0, "scale_max": 20},
        {"key": "pick", "type": "single_choice", "label": "选择", "options": []},
        {"key": "pick2", "type": "text", "label": "说明", "dimension": "attitude"},
        {"key": "1bad", "type": "text", "label": "键名错误"},
    ]
    r = client.post("/admin/surveys/new", data=builder_form(csrf, bad, title=""))
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert errors["title"] == "请填写标题（最多 200 个字符）。"
    assert errors["question-0"] == "评分量表须满足 0 ≤ 最小值 < 最大值 ≤ 10。"
    assert errors["question-1"] == "选择题至少需要一个选项。"
    assert errors["question-2"] == "只有评分和推荐度题可以测量维度。"
    assert errors["question-3"].startswith("变量名须以字母开头")
    assert 'id="question-1"' in r.text and "1bad" in r.text  # the input is kept
    assert "有几处需要修改" in r.text
    # The questionnaire's own checks (keys used twice, a condition on a later question) too.
    later: list[dict[str, Any]] = [
        {"key": "a", "type": "text", "label": "甲", "show_if": {"key": "b", "value": "x"}},
        {"key": "b", "type": "single_choice", "label": "乙",
         "options": [{"value": "x", "label": "是"}]},
        {"key": "b", "type": "text", "label": "丙"},
    ]  # fmt: skip
    r = client.post("/admin/surveys/new?lang=en", data=builder_form(csrf, later))
    assert r.status_code == 422
    assert errors_of(r.text) == {
        "question-0": "A condition can only refer to an earlier question.",
        "question-2": "An earlier question already uses this variable name.",
    }
    r = client.post(
        "/admin/surveys/new?lang=zh-CN", data=builder_form(csrf, []) | {"definition": "{oops"}
    )
    assert r.status_code == 422
    assert errors_of(r.text)["definition"] == "问卷定义无法读取，请检查 JSON 格式。"
    r = client.post("/admin/surveys/new", data=builder_form(csrf, []))
    assert r.status_code == 422 and "questions" in errors_of(r.text)
    assert session.exec(select(Survey)).first() is None


def test_saving_edits_in_place_then_versions_once_responses_exist(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    admin_user, csrf = console_admin(app, client, session)
    sid = world.survey_id
    questions = survey_body()["questions"]
    r = client.post(
        f"/admin/surveys/{sid}",
        data=builder_form(csrf, questions, title="改过的标题"),
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/admin/surveys/{sid}?done=saved&v=1"
    session.expire_all()
    assert session.get(Survey, sid).title == "改过的标题"  # type: ignore[union-attr]

    r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body())
    assert r.status_code == 201, r.text
    page = client.get(f"/admin/surveys/{sid}")
    assert "保存时将生成新版本 v2" in page.text
    edited = questions + [{"key": "extra", "type": "text", "label": "补充"}]
    r = client.post(
        f"/admin/surveys/{sid}", data=builder_form(csrf, edited), follow_redirects=False
    )
    assert r.status_code == 303
    new_id = saved_id(r.headers["location"], "versioned")
    assert r.headers["location"].endswith("&v=2")
    session.expire_all()
    old, new = session.get(Survey, sid), session.get(Survey, new_id)
    assert old is not None and old.frozen and new is not None and new.previous_id == sid
    assert (admin_user.username, "survey.version", str(new_id)) in audit_actions(session)
    page = client.get(r.headers["location"])
    assert "修改已保存为新版本 v2" in page.text
    versions = page.text.split('id="versions-title"')[1]
    assert f'href="/admin/surveys/{sid}">v1</a>' in versions
    assert f'href="/admin/surveys/{new_id}" aria-current="page">v2</a>' in versions
    # The campaign stays on the version its residents answered.
    v1_row = versions.split(f'id="version-{sid}"')[1].split("</tr>")[0]
    assert f'href="/admin/campaigns/{world.campaign_id}"' in v1_row
    # The earlier version points to the newest one.
    old_page = client.get(f"/admin/surveys/{sid}").text
    assert "这不是最新版本：已有 v2。" in old_page
    assert f'<a href="/admin/surveys/{new_id}">打开 v2</a>' in old_page


def test_preview_draws_the_resident_form_and_marks_incomplete_questions(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    _, csrf = console_admin(app, client, session)
    questions = THREE + [{"key": "more", "type": "single_choice", "label": "缺选项"}]
    r = client.post(
        "/admin/surveys/preview",
        data={"definition": json.dumps({"questions": questions})},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200
    assert "<html" not in r.text  # a fragment for the builder's pane
    assert '<fieldset class="q" id="q-overall"' in r.text
    assert r.text.count('name="a.overall"') == 5 and "非常满意" in r.text
    assert 'id="q-why"' in r.text and "data-show-if=" in r.text
    assert "第 4 题尚未填写完整" in r.text and "选择题至少需要一个选项。" in r.text
    en = client.post(
        "/admin/surveys/preview?lang=en",
        data={"definition": json.dumps(THREE)},
        headers={"X-CSRF-Token": csrf},
    )
    assert "What was hard?" in en.text
    no_csrf = client.post("/admin/surveys/preview", data={"definition": "[]"})
    assert no_csrf.status_code == 403


def _workbook(rows: list[list[str]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "survey"
    ws.append(["type", "name", "label::zh", "label::en"])
    for row in rows:
        ws.append(row)
    wb.create_sheet("settings").append(["form_title"])
    wb["settings"].append(["上传的问卷"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.slow
def test_xlsform_upload_names_bad_rows_and_imports_good_ones(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin_user, csrf = console_admin(app, client, session)
    bad = _workbook([["text", "ok", "好"], ["select_one", "pick", "选一个"]])
    r = client.post(
        "/admin/surveys/import",
        data={"csrf_token": csrf},
        files={"file": ("bad.xlsx", bad, XLSX)},
    )
    assert r.status_code == 422
    assert 'id="err-file"' in r.text and "工作表 survey 第 3 行" in r.text
    assert 'aria-describedby="err-file"' in r.text
    r = client.post(
        "/admin/surveys/import",
        data={"csrf_token": csrf},
        files={"file": ("notes.txt", b"hello", "text/plain")},
    )
    assert r.status_code == 422 and "请选择一个 .xlsx 格式的 XLSForm 工作簿。" in r.text
    assert session.exec(select(Survey)).first() is None

    good = _workbook([["text", "ok", "好", "Fine"], ["integer", "n", "几次", "How many"]])
    r = client.post(
        "/admin/surveys/import",
        data={"csrf_token": csrf},
        files={"file": ("good.xlsx", good, XLSX)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    sid = int(r.headers["location"].split("/")[3].split("?")[0])
    assert "done=imported" in r.headers["location"]
    assert (admin_user.username, "survey.import", str(sid)) in audit_actions(session)
    page = client.get(r.headers["location"])
    assert "上传的问卷" in page.text and 'id="q-n"' in page.text
