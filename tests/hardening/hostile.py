"""The hostile-input corpus: bodies that must be refused, texts that must be stored safely."""

from __future__ import annotations

import json
from typing import Any

from tests.hardening.world import new_response

LIMIT = 200_000  # the body limit the hostile tests configure (MINYI_MAX_BODY_BYTES)

XSS = '<script>alert("minyi")</script><img src=x onerror=alert(1)>'
# What must never reach a page or a report unescaped.
XSS_MARKERS = ("<script>alert(", "<img src=x onerror")
FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(1+1)")

# Legitimate text that is hostile only to careless code: stored exactly, shown escaped.
SAFE_TEXTS = {
    "zero-width": "好\u200b评\u200c\u200d\ufeff",
    "right-to-left": "\u202eevil\u202c \u200f مرحبا",
    "emoji": "服务很好👍🏽👨‍👩‍👧 🇨🇳",
    "html": XSS,
    "csv formula": FORMULAS[0],
    "combining": "Z̷̢͎a̴l̸g̵o̶",
}


def raw_json(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


def body_bytes(data: bytes, ctype: str = "application/json") -> dict[str, Any]:
    return {"content": data, "headers": {"content-type": ctype}}


def nested(depth: int) -> str:
    return '{"unit_code":"dept-civil","answers":{"attitude":' + "[" * depth + "]" * depth + "}}"


def with_answer(value: str) -> dict[str, Any]:
    """A valid response whose attitude rating is replaced by a raw JSON value."""
    text = json.dumps(new_response()).replace('"attitude": 5', '"attitude": ' + value)
    return raw_json(text)


def response_attacks(inv_campaign: int) -> list[tuple[str, dict[str, Any], set[int]]]:
    """(name, request kwargs, accepted statuses) for the public response endpoint."""
    bad4 = {400, 422}
    out: list[tuple[str, dict[str, Any], set[int]]] = [
        ("oversized body", raw_json('{"comment":"' + "x" * (LIMIT + 10) + '"}'), {413}),
        ("deeply nested JSON", raw_json(nested(60_000)), bad4),
        ("invalid UTF-8", body_bytes(b'{"unit_code":"dept-\xff\xfe","answers":{}}'), bad4),
        (
            "lone surrogate",
            raw_json('{"unit_code":"dept-civil","answers":{"attitude":4},"comment":"\\ud800"}'),
            bad4,
        ),
        ("NUL in comment", {"json": new_response(comment="a\x00b")}, {422}),
        ("10,000-character comment", {"json": new_response(comment="评" * 10_000)}, {422}),
        ("unknown field", {"json": new_response(is_admin=True)}, {422}),
        ("unknown question", {"json": new_response(answers={"ghost": 1})}, {422}),
        ("answers as a list", {"json": new_response(answers=[4, 4, 4])}, {422}),
        ("body is an array", {"json": [new_response()]}, {422}),
        ("body is null", raw_json("null"), {422}),
        ("empty body", raw_json(""), bad4),
        ("unit_code is a number", {"json": new_response(unit_code=5)}, {422}),
        ("unknown unit", {"json": new_response(unit_code="dept-nope")}, {422}),
        ("profile is a string", {"json": new_response(profile="admin")}, {422}),
        ("age band not offered", {"json": new_response(profile={"age_band": "5-6"})}, {422}),
        ("submission_id path traversal", {"json": new_response(submission_id="../../etc")}, {422}),
        ("form-encoded body", {"data": {"unit_code": "dept-civil"}}, {422}),
        ("text/plain body", body_bytes(json.dumps(new_response()).encode(), "text/plain"), bad4),
        ("rating above the scale", with_answer("6"), {422}),
        ("rating below the scale", with_answer("0"), {422}),
        ("negative rating", with_answer("-1"), {422}),
        ("rating beyond 64 bits", with_answer("99999999999999999999999"), {422}),
        ("non-integer rating", with_answer("2.5"), {422}),
        ("NaN rating", with_answer("NaN"), {422}),
        ("Infinity rating", with_answer("Infinity"), {422}),
        ("overflowing rating", with_answer("1e309"), {422}),
        ("boolean rating", with_answer("true"), {422}),
        ("rating as an object", with_answer('{"$gt": 0}'), {422}),
        ("rating as words", with_answer('"five"'), {422}),
        (
            "nps out of range",
            {"json": new_response(answers={**new_response()["answers"], "recommend": 11})},
            {422},
        ),
        (
            "choice not offered",
            {"json": new_response(answers={**new_response()["answers"], "channel": "fax"})},
            {422},
        ),
    ]
    return out


def proposal_attacks() -> list[tuple[str, dict[str, Any], set[int]]]:
    ok = {"title": "加装电梯", "category": "养老", "description": "老旧小区加装电梯"}
    bad4 = {400, 422}
    return [
        ("oversized body", raw_json('{"title":"' + "x" * (LIMIT + 10) + '"}'), {413}),
        ("deeply nested JSON", raw_json('{"title":' + "[" * 60_000 + "]" * 60_000 + "}"), bad4),
        ("invalid UTF-8", body_bytes(b'{"title":"\xff\xfe\xfd","category":"x"}'), bad4),
        ("NUL in title", {"json": {**ok, "title": "电\x00梯"}}, {422}),
        ("10,000-character description", {"json": {**ok, "description": "长" * 10_000}}, {422}),
        ("title over 200 characters", {"json": {**ok, "title": "长" * 201}}, {422}),
        ("unknown field", {"json": {**ok, "status": "shortlisted"}}, {422}),
        ("title is a number", {"json": {**ok, "title": 12345}}, {422}),
        ("negative cost", {"json": {**ok, "rough_cost": -5}}, {422}),
        ("non-integer cost", {"json": {**ok, "rough_cost": 1.5}}, {422}),
        ("cost beyond 64 bits", {"json": {**ok, "rough_cost": 10**30}}, {422}),
        ("body is an array", {"json": [ok]}, {422}),
        ("unknown area", {"json": {**ok, "area_code": "nowhere"}}, {404, 422}),
    ]


def ballot_attacks(project_ids: list[int]) -> list[tuple[str, dict[str, Any], set[int]]]:
    good = {str(p): "for" for p in project_ids}
    first = str(project_ids[0])
    bad4 = {400, 422}
    return [
        ("oversized body", raw_json('{"choices":{"' + "1" * (LIMIT + 10) + '":"for"}}'), {413}),
        ("deeply nested JSON", raw_json('{"choices":' + "[" * 60_000 + "]" * 60_000 + "}"), bad4),
        ("invalid UTF-8", body_bytes(b'{"choices":{"1":"f\xffr"}}'), bad4),
        ("unknown field", {"json": {"choices": good, "deputy": "someone-else"}}, {422}),
        ("mark is a number", {"json": {"choices": {**good, first: 1}}}, {422}),
        ("unknown mark", {"json": {"choices": {**good, first: "maybe"}}}, {422}),
        ("unknown project", {"json": {"choices": {**good, "999999": "for"}}}, {422}),
        ("project id beyond 64 bits", {"json": {"choices": {**good, "9" * 30: "for"}}}, {422}),
        ("missing project", {"json": {"choices": {first: "for"}}}, {422}),
        ("choices as a list", {"json": {"choices": ["for"] * len(project_ids)}}, {422}),
        ("empty body", raw_json(""), bad4),
        ("NUL in a key", {"json": {"choices": {**good, "1\x00": "for"}}}, {422}),
    ]


def login_attacks() -> list[tuple[str, dict[str, Any], set[int]]]:
    form = "application/x-www-form-urlencoded"
    return [
        ("oversized body", body_bytes(b"username=" + b"a" * (LIMIT + 10), form), {413}),
        (
            "invalid UTF-8",
            body_bytes(b"username=\xff\xfe&password=xxxxxxxx", form),
            {400, 401, 422},
        ),
        ("NUL in username", {"data": {"username": "h-ad\x00min", "password": "x" * 8}}, {401, 422}),
        (
            "very long username",
            {"data": {"username": "u" * 10_000, "password": "x" * 8}},
            {401, 422},
        ),
        ("SQL in username", {"data": {"username": "' OR 1=1 --", "password": "x"}}, {401}),
        ("JSON instead of a form", {"json": {"username": "h-admin", "password": "x"}}, {422}),
        ("missing password", {"data": {"username": "h-admin"}}, {422}),
    ]


def naive_timestamp_attacks(survey_id: int) -> list[tuple[str, str, dict[str, Any], set[int]]]:
    """(name, path, request kwargs, accepted statuses) for admin bodies with timestamps."""
    body = {
        "survey_id": survey_id,
        "title": "无时区",
        "opens_at": "2026-01-01T08:00:00",
        "closes_at": "2027-01-01T08:00:00",
        "unit_codes": ["dept-civil"],
    }
    return [
        ("campaign without time zone", "/api/v1/campaigns", {"json": body}, {422}),
        (
            "campaign with a date only",
            "/api/v1/campaigns",
            {"json": {**body, "opens_at": "2026-01-01", "closes_at": "2027-01-01"}},
            {422},
        ),
        (
            "campaign with a made-up date",
            "/api/v1/campaigns",
            {"json": {**body, "opens_at": "2026-02-30T00:00:00+08:00"}},
            {422},
        ),
    ]
