"""Cronbach's alpha, Feldt's interval and the dimensions' correlations against a numpy/scipy
recomputation from the raw answers, through the API; withheld groups; access and 422s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scipy import stats
from sqlmodel import Session

from analytics import figures
from analytics.indicators import reliability, respondents
from analytics.indicators.cube_memo import Memo
from analytics.indicators.cube_query import Snap
from analytics.indicators.queries import Filters, QuestionInfo
from tests.factories import headers_for
from tests.synthetic import Synthetic, add_answers, make_campaign

QUESTIONS: dict[str, dict[str, Any]] = {
    "a1": {"type": "rating", "dimension": "a", "min": 1, "max": 5},
    "a2": {"type": "rating", "dimension": "a", "min": 1, "max": 5},
    "a3": {"type": "rating", "dimension": "a", "min": 1, "max": 5},
    "b1": {"type": "rating", "dimension": "b", "min": 1, "max": 5},
    "b2": {"type": "rating", "dimension": "b", "min": 1, "max": 5},
    "c1": {"type": "rating", "dimension": "c", "min": 1, "max": 7},
    "n1": {"type": "nps", "dimension": None, "min": 0, "max": 10},
}
SIZES = [40, 30, 9, 6]  # the last two are published but too small for an alpha


def textbook_alpha(x: np.ndarray) -> float:
    """Alpha written out: k/(k-1) * (1 - sum of item variances / variance of the total)."""
    k = x.shape[1]
    item_var = sum(np.var(x[:, j], ddof=1) for j in range(k))
    return k / (k - 1) * (1 - item_var / np.var(x.sum(axis=1), ddof=1))


def feldt(a: float, n: int, k: int) -> tuple[float, float]:
    return (
        1 - (1 - a) * stats.f.ppf(0.975, n - 1, (n - 1) * (k - 1)),
        1 - (1 - a) * stats.f.ppf(0.025, n - 1, (n - 1) * (k - 1)),
    )


def _people(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    people = []
    for unit, size in enumerate(SIZES):
        for _ in range(size):
            trait = rng.normal(0, 1)
            answers: dict[str, float] = {}
            for key, q in QUESTIONS.items():
                if rng.random() < 0.1:
                    continue  # a skipped question
                lo, hi = q["min"], q["max"]
                mid = (lo + hi) / 2
                v = np.clip(np.rint(mid + trait * (hi - lo) / 4 + rng.normal(0, 1)), lo, hi)
                answers[key] = float(v)
            people.append({"unit": unit, "answers": answers})
    return people


@pytest.fixture
def data(app: FastAPI) -> tuple[Synthetic, list[dict[str, Any]]]:
    syn = make_campaign(app.state.engine, units=len(SIZES), areas=1, questions=QUESTIONS)
    people = _people(7)
    add_answers(app.state.engine, syn, people)
    return syn, people


def _matrix(people: list[dict[str, Any]], keys: list[str]) -> np.ndarray:
    return np.array([[p["answers"].get(k, np.nan) for k in keys] for p in people], dtype=float)


def _check_group(rows: list[dict[str, Any]], corr: list[dict[str, Any]], people: list[Any]) -> None:
    """Every published alpha and correlation of one group against the raw answers."""
    for dim, keys in (("a", ["a1", "a2", "a3"]), ("b", ["b1", "b2"])):
        row = next(r for r in rows if r["dimension"] == dim)
        x = _matrix(people, keys)
        x = x[np.isfinite(x).all(axis=1)]
        assert row["items"] == len(keys)
        if len(x) < 10:
            assert row["too_few"] and row.get("alpha") is None and row["n"] is None
            continue
        assert row["n"] == len(x)
        a = textbook_alpha(x)
        assert row["alpha"] == pytest.approx(a, abs=1e-4)
        lo, hi = feldt(a, len(x), len(keys))
        assert row["alpha_ci_low"] == pytest.approx(lo, abs=1e-4)
        assert row["alpha_ci_high"] == pytest.approx(hi, abs=1e-4)
        assert row["alpha_ci_low"] < row["alpha"] < row["alpha_ci_high"]
    assert not [r for r in rows if r["dimension"] == "c"]  # one question: no alpha
    dims = {"a": ["a1", "a2", "a3"], "b": ["b1", "b2"], "c": ["c1"]}
    # The mean of the answered questions (one scale per dimension, so the 0-100 score is an
    # affine map of it and leaves the correlation unchanged).
    means = {d: np.nanmean(_matrix(people, keys), axis=1) for d, keys in dims.items()}
    assert {(c["dimension_a"], c["dimension_b"]) for c in corr} == {
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
    }
    for c in corr:
        x, y = means[c["dimension_a"]], means[c["dimension_b"]]
        both = np.isfinite(x) & np.isfinite(y)
        if both.sum() < 10:
            assert c["too_few"] and c["r"] is None
            continue
        assert c["n"] == int(both.sum())
        assert c["r"] == pytest.approx(stats.pearsonr(x[both], y[both])[0], abs=1e-4)
        assert c["r"] == pytest.approx(np.corrcoef(x[both], y[both])[0, 1], abs=1e-4)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_district_alpha_and_correlations(
    client: TestClient, session: Session, data: tuple[Synthetic, list[Any]]
) -> None:
    syn, people = data
    h = headers_for(client, session, "evaluator")
    r = client.get(f"/api/v1/campaigns/{syn.campaign_id}/reliability", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"]["weighted"] is False
    assert all(not row["suppressed"] for row in body["rows"])
    _check_group(body["rows"], body["correlations"], people)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_per_unit_only_where_indicators_publish(
    client: TestClient, session: Session, data: tuple[Synthetic, list[Any]]
) -> None:
    syn, people = data
    h = headers_for(client, session, "evaluator")
    r = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/reliability", params={"by_unit": "true"}, headers=h
    )
    assert r.status_code == 200, r.text
    body = r.json()
    ind = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/indicators", params={"by": "unit"}, headers=h
    ).json()["rows"]
    shown = {row["unit_code"]: not row["suppressed"] for row in ind}
    for i, code in enumerate(syn.unit_codes):
        rows = [x for x in body["rows"] if x["unit_code"] == code]
        corr = [x for x in body["correlations"] if x["unit_code"] == code]
        assert rows and corr
        if not shown[code]:
            # Never a number about a group the indicators view withholds.
            assert all(x["suppressed"] and x.get("alpha") is None for x in rows)
            assert all(x["suppressed"] and x["r"] is None for x in corr)
            continue
        mine = [p for p in people if p["unit"] == i]
        _check_group(rows, corr, mine)
    assert shown[syn.unit_codes[0]] and shown[syn.unit_codes[3]]
    small = [x for x in body["rows"] if x["unit_code"] == syn.unit_codes[3]]
    assert small and all(x["too_few"] and not x["suppressed"] for x in small)
    assert all(x["suppression"] == "too_few" and x.get("alpha") is None for x in small)


def test_groups_under_k_are_withheld(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(min_group_size=35)
    syn = make_campaign(app.state.engine, units=len(SIZES), areas=1, questions=QUESTIONS)
    add_answers(app.state.engine, syn, _people(7))
    with TestClient(app) as client, Session(app.state.engine) as session:
        h = headers_for(client, session, "evaluator")
        body = client.get(
            f"/api/v1/campaigns/{syn.campaign_id}/reliability",
            params={"by_unit": "true"},
            headers=h,
        ).json()
    assert body["method"]["min_respondents"] == 35
    for x in body["rows"] + body["correlations"]:
        if x["unit_code"] == syn.unit_codes[0]:
            assert not x["suppressed"]
        else:
            assert x["suppressed"] and x["suppression"] == "primary" and x["n"] is None


def test_access_and_bad_parameters(
    client: TestClient, session: Session, data: tuple[Synthetic, list[Any]]
) -> None:
    syn, _people = data
    url = f"/api/v1/campaigns/{syn.campaign_id}/reliability"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=headers_for(client, session, "deputy")).status_code == 403
    h = headers_for(client, session, "evaluator")
    assert client.get(url, params={"month": "2026-13"}, headers=h).status_code == 422
    assert client.get(url, params={"area_code": "nowhere"}, headers=h).status_code == 422
    assert client.get("/api/v1/campaigns/999999/reliability", headers=h).status_code == 404
    r = client.get(url, params={"month": "2026-01"}, headers=h)
    assert r.status_code == 200 and r.json()["method"]["month"] == "2026-01"


FIGURE_ROWS: list[dict[str, Any]] = [
    {
        "kind": "alpha",
        "dimension": "a",
        "alpha": 0.82,
        "alpha_ci_low": 0.7,
        "alpha_ci_high": 0.9,
        "n": 40,
        "items": 3,
        "suppressed": False,
    },
    {
        "kind": "alpha",
        "dimension": "b",
        "alpha": 0.55,
        "alpha_ci_low": -0.1,
        "alpha_ci_high": 0.8,
        "n": 30,
        "items": 2,
        "suppressed": False,
    },
    {
        "kind": "alpha",
        "dimension": "<i>x</i>",
        "alpha": 0.99,
        "n": None,
        "items": 2,
        "suppressed": True,
    },
    {
        "kind": "correlation",
        "dimension_a": "a",
        "dimension_b": "b",
        "r": 0.61,
        "n": 40,
        "suppressed": False,
    },
    {
        "kind": "correlation",
        "dimension_a": "a",
        "dimension_b": "c",
        "r": None,
        "n": None,
        "too_few": True,
        "suppressed": False,
    },
    {
        "kind": "correlation",
        "dimension_a": "b",
        "dimension_b": "c",
        "r": 0.9,
        "n": None,
        "suppressed": True,
    },
]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_reliability_figure_on_literal_rows(lang: str) -> None:
    fig = figures.reliability(FIGURE_ROWS, lang=lang, dimensions={"a": "态度"})
    bar = next(t for t in fig.data if t.type == "bar")
    assert list(bar.x) == ["态度", "b"] and list(bar.y) == [0.82, 0.55]
    assert list(bar.error_y.arrayminus) == [0.12, 0.65]
    assert list(bar.error_y.array) == [0.08, 0.25]
    # The withheld alpha is named (escaped), never drawn with its number.
    note = next(t for t in fig.data if t.type == "scatter")
    assert list(note.x) == ["&lt;i&gt;x&lt;/i&gt;"] and 0.99 not in list(note.y)
    assert any(s.y0 == 0.7 for s in fig.layout.shapes)
    heat = next(t for t in fig.data if t.type == "heatmap")
    z = [list(row) for row in heat.z]
    assert z == [[1.0, 0.61, None], [0.61, 1.0, None], [None, None, 1.0]]
    assert figures.label(lang, "reliability") in fig.layout.title.text
    empty = figures.reliability([], lang=lang)
    assert not empty.data
    # One question per dimension: no alpha panel, the heatmap alone.
    only = figures.reliability([r for r in FIGURE_ROWS if r["kind"] == "correlation"], lang=lang)
    assert [t.type for t in only.data] == ["heatmap"]


def test_dashboard_table_and_report_are_the_api_rows(
    client: TestClient, session: Session, data: tuple[Synthetic, list[Any]]
) -> None:
    syn, _people = data
    h = headers_for(client, session, "evaluator")
    api = client.get(f"/api/v1/campaigns/{syn.campaign_id}/reliability", headers=h).json()
    r = client.get(
        "/api/v1/tables/reliability",
        params={"campaign_id": syn.campaign_id, "format": "json"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [x for x in rows if x["kind"] == "alpha"] == [
        {"kind": "alpha", **x} for x in api["rows"]
    ]
    assert [x for x in rows if x["kind"] == "correlation"] == [
        {"kind": "correlation", **x} for x in api["correlations"]
    ]
    body = client.get(
        "/api/v1/dashboard",
        params={"campaign_id": syn.campaign_id, "names": "reliability", "lang": "en"},
        headers=h,
    ).json()
    fig = body["figures"]["reliability"]
    bar = next(t for t in fig["data"] if t["type"] == "bar")
    assert bar["y"] == [x["alpha"] for x in api["rows"]]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("by_unit", [False, True])
def test_chunks_smaller_than_a_group_give_the_same_figures(
    client: TestClient,
    session: Session,
    data: tuple[Synthetic, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
    by_unit: bool,
) -> None:
    syn, people = data
    monkeypatch.setattr(reliability, "CHUNK", 7)  # every published group spans several chunks
    h = headers_for(client, session, "evaluator")
    r = client.get(
        f"/api/v1/campaigns/{syn.campaign_id}/reliability",
        params={"by_unit": str(by_unit).lower()},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    if not by_unit:
        _check_group(body["rows"], body["correlations"], people)
        return
    for i, code in enumerate(syn.unit_codes):
        rows = [x for x in body["rows"] if x["unit_code"] == code]
        corr = [x for x in body["correlations"] if x["unit_code"] == code]
        if not rows[0]["suppressed"]:
            _check_group(rows, corr, [p for p in people if p["unit"] == i])


def _snap(rng: np.random.Generator, n: int, scales: dict[str, list[float]]) -> Snap:
    """A generation of ``n - n // 5`` rows and a tail of ``n // 5``, a tenth of them flagged,
    in 4 units (the third without respondents), every answer code drawn at random with a
    fifth unanswered (-1)."""
    keys = sorted(scales)
    codes = {k: rng.integers(-1, len(scales[k]), n).astype(np.int16) for k in keys}
    codes[keys[-1]][rng.random(n) < 0.2] = -1
    cols = {
        "rid": np.arange(1, n + 1, dtype=np.int64),
        "flagged": rng.random(n) < 0.1,
        "unit": rng.choice(np.array([0, 1, 3], np.int32), n, p=[0.6, 0.3, 0.1]),
    }
    g = n - n // 5
    units = [11, 12, 13, 14]
    return Snap(
        keys=keys,
        base_cols={c: v[:g] for c, v in cols.items()},
        base_answers={k: v[:g].astype(np.int8) for k, v in codes.items()},
        lineage="test",
        cols={c: v[g:] for c, v in cols.items()},
        answers={k: v[g:] for k, v in codes.items()},
        tables={
            "unit": (units, {u: i for i, u in enumerate(units)}),
            **{k: (list(v), {x: i for i, x in enumerate(v)}) for k, v in scales.items()},
        },
        memo=Memo(),
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("halves", [False, True])  # True: values off the whole numbers
@pytest.mark.parametrize("by", ["", "unit", "unit, sorted"])
def test_sums_over_chunks_equal_numpy_over_the_whole_group(
    halves: bool, by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if by == "unit, sorted":  # groups too many to number densely: the rows sorted by group
        monkeypatch.setattr(respondents, "_DENSE", 1)
    rng = np.random.default_rng(3)
    step = 0.5 if halves else 1.0
    scales = {
        "p1": [1 + step * i for i in range(5)],
        "p2": [5.0, 4.0, 3.0, 2.0, 1.0],  # codes in another order than the values
        "p3": [1 + step * i for i in range(5)],
        "q1": [float(v) for v in range(11)],
        "q2": [1 + step * i for i in range(7)],
    }
    questions = {
        k: QuestionInfo(k, "rating", k[0], min(v), max(v) if k != "q1" else 10.0)
        for k, v in scales.items()
    }
    snap = _snap(rng, 20_000, scales)
    fields = ["unit"] if by else []
    groups = respondents.from_snap(
        snap,
        shown={(11,): 1, (14,): 1} if by else {(): 1},
        fields=fields,
        period=None,
        include_flagged=False,
        filters=Filters(),
        k=5,
    )
    assert [g.key for g in groups] == ([(11,), (12,), (14,)] if by else [()])
    shown = [g for g in groups if g.published]
    dims = {"p": ["p1", "p2", "p3"], "q": ["q1", "q2"]}
    alphas, pairs = reliability._figures(shown, dims, dims, ["p", "q"], questions, 1_000)
    # The same respondents and values in full arrays, read without the chunks.
    base, tail = snap.base_cols, snap.cols
    assert base is not None and snap.base_answers is not None
    kept = ~np.concatenate([base["flagged"], tail["flagged"]])
    unit = np.asarray(snap.tables["unit"][0])[np.concatenate([base["unit"], tail["unit"]])][kept]
    values = {}
    for k, v in scales.items():
        c = np.concatenate([snap.base_answers[k], snap.answers[k]]).astype(int)[kept]
        values[k] = np.where(c >= 0, np.append(v, np.nan)[c], np.nan)
    for i, g in enumerate(shown):
        mine = unit == g.key[0] if by else np.ones(len(unit), bool)
        assert g.n == int(mine.sum())
        full = {k: v[mine] for k, v in values.items()}
        for d, keys in dims.items():
            x = np.column_stack([full[k] for k in keys])
            x = x[np.isfinite(x).all(axis=1)]
            assert alphas[d].count(i) == len(x) and alphas[d].exact is not halves
            a = textbook_alpha(x)
            assert alphas[d].alpha(i) == pytest.approx(a, rel=1e-12, abs=1e-12)
        scores = {
            d: np.nanmean(
                np.column_stack(
                    [
                        100
                        * (full[k] - questions[k].scale_min)
                        / (questions[k].scale_max - questions[k].scale_min)
                        for k in keys
                    ]
                ),
                axis=1,
            )
            for d, keys in dims.items()
        }
        x, y = scores["p"], scores["q"]
        both = np.isfinite(x) & np.isfinite(y)
        pair = pairs[("p", "q")]
        assert pair.count(i) == int(both.sum())
        r = np.corrcoef(x[both], y[both])[0, 1]
        assert pair.r(i) == pytest.approx(r, rel=1e-12, abs=1e-12)
        assert pair.moments.m[i, 0, 0] / (pair.count(i) - 1) == pytest.approx(
            np.var(x[both], ddof=1), rel=1e-12
        )


def test_a_score_the_same_for_everyone_has_no_correlation() -> None:
    pair = reliability._Pair(2)
    for _ in range(3):  # 100/3 is not a float: the mean of copies of it may miss it by an ulp
        where = np.arange(20) % 2
        pair.add(where, np.where(where == 0, 100 / 3, np.arange(20.0)), np.arange(20.0))
    assert pair.count(0) == pair.count(1) == 30
    assert pair.r(0) is None and pair.r(1) == pytest.approx(1.0)
