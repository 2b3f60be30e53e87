"""The attacker of issue 15: an evaluator who asks everything the API lets them ask about small
campaigns of known truth, and solves for any group of fewer than k respondents.

It does not know how suppression works: it only reads what is published (rows that are not
marked suppressed, comment pages, theme counts) and treats each as a linear equation over the
respondents (see ``tests/hardening/attack.py``). It fails listing every group whose count, sums
of answers or comment authorship it can pin down, and counts every answered request that an
evaluator should be refused.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.hardening.attack import (
    AREAS,
    DIMS,
    LABELS,
    UNITS,
    Campaign,
    Finding,
    Knowledge,
    digest,
    plan,
    seed,
    solve,
)
from tests.hardening.conftest import add_figure, backend_of

BY_FIELDS = ("unit", "dimension", "area", "age_band", "sex")
ROW_KEYS = {"unit_code": "unit", "area_code": "area", "age_band": "age_band", "sex": "sex"}


class Attacker:
    def __init__(self, client: TestClient, headers: dict[str, str], kn: Knowledge) -> None:
        self.client, self.headers, self.kn = client, headers, kn
        self.requests = 0
        self.decimals = 0
        self.refusals_missing: list[str] = []
        # Respondent weights by age band when the published method gives enough to know them.
        self.weights: np.ndarray | None = None
        # (filter set, texts shown, complete, sentiment asked for) of every comment listing.
        self.listings: list[tuple[np.ndarray, set[str], bool, str | None]] = []
        self.comment_seen: dict[str, tuple[str, str | None, str | None]] = {}

    def get(self, path: str, params: dict[str, Any]) -> Any:
        self.requests += 1
        q = {k: v for k, v in params.items() if v is not None}
        r = self.client.get(f"/api/v1/{path}", params=q, headers=self.headers)
        if r.status_code in (401, 403, 404, 422):
            return None
        assert r.status_code == 200, (path, q, r.status_code, r.text[:300])
        return r.json()

    def should_refuse(self, path: str, params: dict[str, Any], what: str) -> Any:
        body = self.get(path, params)
        if body is not None:
            self.refusals_missing.append(what)
        return body

    # -- indicators and trends ---------------------------------------------------------------
    def base(self, include_flagged: bool, **filters: str | None) -> np.ndarray:
        m = self.kn.mask(**filters)
        if not include_flagged:
            m &= ~np.array([q.flagged for q in self.kn.campaign.people])
        return m

    def table(self, path: str, params: dict[str, Any]) -> bool:
        body = self.get(path, params)
        if body is None:
            return False
        rows = body["rows"]
        period = params.get("period") or ("month" if path.endswith("trends") else None)
        filt = {
            "unit": params.get("unit_code"),
            "area": params.get("area_code"),
            "age_band": params.get("age_band"),
            "sex": params.get("sex"),
        }
        base = self.base(bool(params.get("include_flagged")), **filt)
        if params.get("month") and period is None:
            base &= self.kn.mask(month=params["month"])
        weighted = bool(params.get("weighted"))
        if weighted and self.weights is None:
            self.learn_weights(body["method"].get("weighting") or {})
        why = f"{path.split('/')[-1]}?" + "&".join(f"{k}={v}" for k, v in params.items() if v)
        for row in rows:
            if row.get("suppressed") or row.get("n") is None:
                continue
            m = base.copy()
            keys = []
            for key, attr in ROW_KEYS.items():
                if row.get(key) is not None:  # the schema lists unit_code even when not grouped
                    m &= self.kn.mask(**{attr: row[key]})
                    keys.append(f"{attr}={row[key]}")
            if period and row.get("period"):
                m &= self.kn.mask(**{period: row["period"]})
                keys.append(f"{period}={row['period']}")
            if row.get("dimension"):
                keys.append(f"dimension={row['dimension']}")
            label = f"{why} [{', '.join(keys)}]"
            self.kn.published += 1
            self.kn.add_count(m, row["n"], label + " n")
            self.value(row, m, weighted, label)
        return True

    def value(self, row: dict[str, Any], m: np.ndarray, weighted: bool, label: str) -> None:
        mean = row.get("mean")
        if mean is None:
            return
        self.decimals = max(self.decimals, len(repr(float(mean)).split(".")[1]))
        channels = [row["dimension"]] if row.get("dimension") else DIMS
        per = (row.get("n_answers") or row["n"]) / row["n"]
        coef = m.astype(float)
        if weighted and self.weights is not None:
            # Known weights: the weighted mean times the weight total of the row is a linear
            # function with weight x indicator as coefficients. The total is known only if the
            # published n_eff pins how many of the row fall in each weight class.
            total = self.weight_total(row)
            if total is None:
                return
            coef, scale = coef * self.weights, total * per
        else:
            # Unknown weights (or unweighted): the indicator itself, as the brief says; the
            # value check in ``solve`` then refuses any claim the numbers do not bear out.
            scale = row["n"] * per
        self.kn.add_value(coef, dict.fromkeys(channels, 1.0), mean * scale, scale, label + " mean")

    def learn_weights(self, report: dict[str, Any]) -> None:
        """Raking to one margin with two categories present: weight_min and weight_max, the
        margins (public on the campaign) and n give each category's weight and count."""
        margins = self.kn.campaign.margins or {}
        fields = report.get("fields") or []
        if len(fields) != 1 or report.get("weight_max") is None:
            return
        f = fields[0]
        shares = {
            c: s
            for c, s in (margins.get(f) or {}).items()
            if c not in (report.get("dropped") or {}).get(f, [])
        }
        n = report.get("n") or 0
        if len(shares) != 2 or not n:
            return
        total = sum(shares.values())
        (a, sa), (b, sb) = shares.items()
        for wa, wb in (
            (report["weight_max"], report["weight_min"]),
            (report["weight_min"], report["weight_max"]),
        ):
            ca, cb = sa / total * n / wa, sb / total * n / wb
            if abs(ca - round(ca)) < 1e-6 and abs(cb - round(cb)) < 1e-6 and round(ca + cb) == n:
                people = self.kn.campaign.people
                self.weights = np.array([wa if q.attr(f) == a else wb for q in people])
                for cat, cnt in ((a, ca), (b, cb)):
                    m = self.kn.mask(**{f: cat}) & ~np.array([q.flagged for q in people])
                    self.kn.add_count(m, round(cnt), f"weighting report: {f}={cat}")
                self.classes = (wa, wb)
                return

    def weight_total(self, row: dict[str, Any]) -> float | None:
        n, neff = row["n"], row.get("n_eff")
        if neff is None:
            return None
        wa, wb = self.classes
        hits = []
        for a in range(n + 1):
            w, w2 = a * wa + (n - a) * wb, a * wa * wa + (n - a) * wb * wb
            if any(abs(r * w * w / w2 - neff) < 0.006 for r in (1, len(DIMS))):
                hits.append(w)
        return hits[0] if len(hits) == 1 else None

    # -- distribution of answers -------------------------------------------------------------
    def distribution(self, params: dict[str, Any]) -> None:
        """Each published count of a scale point is the number of the row's respondents who
        chose it: one equation on the channel "question=point". Weighted shares times the
        row's weight total are equations on weight x indicator, when the weights are known."""
        body = self.get(f"campaigns/{self.kn.campaign.id}/distribution", params)
        if body is None:
            return
        weighted = bool(params.get("weighted"))
        if weighted and self.weights is None:
            self.learn_weights(body["method"].get("weighting") or {})
        base = self.base(
            bool(params.get("include_flagged")),
            unit=params.get("unit_code"),
            area=params.get("area_code"),
            age_band=params.get("age_band"),
            sex=params.get("sex"),
        )
        if params.get("month"):
            base &= self.kn.mask(month=params["month"])
        why = "distribution?" + "&".join(f"{k}={v}" for k, v in params.items() if v)
        for row in body["rows"]:
            if row.get("suppressed") or row.get("n") is None:
                continue
            m = base & self.kn.mask(unit=row["unit_code"]) if row.get("unit_code") else base
            q = "nps" if row["type"] == "nps" else row["dimension"]
            label = f"{why} [unit={row.get('unit_code')}, {q}]"
            self.kn.published += 1
            # Every respondent answers every question here, so the answers are respondents.
            self.kn.add_count(m, row["n"], label + " n")
            coef = m.astype(float)
            total = self.weight_total(row) if weighted and self.weights is not None else None
            for p in row["points"]:
                ch = {f"{q}={int(p['value'])}": 1.0}
                self.kn.add_value(coef, ch, p["count"], 0.0, f"{label} count {p['value']:g}")
                if total is not None and self.weights is not None and p["share"] is not None:
                    self.kn.add_value(
                        coef * self.weights, ch, p["share"] * total, total, f"{label} share"
                    )

    # -- ranking -----------------------------------------------------------------------------
    def ranking(self, params: dict[str, Any], dim_weights: dict[str, float] | None) -> None:
        weights = ",".join(f"{d}:{w:g}" for d, w in dim_weights.items()) if dim_weights else None
        body = self.get(f"campaigns/{self.kn.campaign.id}/ranking", {**params, "weights": weights})
        if body is None:
            return
        base = self.base(bool(params.get("include_flagged")), area=params.get("area_code"))
        if params.get("month"):
            base &= self.kn.mask(month=params["month"])
        why = "ranking?" + "&".join(f"{k}={v}" for k, v in params.items() if v)
        wts = dim_weights or dict.fromkeys(DIMS, 1.0)
        total = sum(wts.values())
        for row in body["rows"]:
            if row.get("suppressed") or row.get("n") is None:
                continue
            m = base & self.kn.mask(unit=row["unit_code"])
            label = f"{why}&weights={weights} [unit={row['unit_code']}]"
            self.kn.published += 1
            self.kn.add_count(m, row["n"], label + " n")
            if row.get("raw_index") is not None and not params.get("weighted"):
                # raw index = 100 * (sum_d w_d mean_d / sum w - 1) / 4 on 1-5 scales.
                value = row["n"] * (row["raw_index"] / 25 + 1)
                chans = {d: w / total for d, w in wts.items()}
                self.kn.add_value(m.astype(float), chans, value, row["n"] / 25, label + " raw")

    # -- comments ----------------------------------------------------------------------------
    def comments(self, params: dict[str, Any]) -> None:
        body = self.get(f"campaigns/{self.kn.campaign.id}/comments", {**params, "limit": 200})
        if body is None or body.get("suppressed"):
            return
        m = self.base(
            bool(params.get("include_flagged")),
            unit=params.get("unit_code"),
            area=params.get("area_code"),
        )
        # The list says which (unit, month) cells under its filters it leaves out: it covers
        # the rest of the filter's respondents.
        for cell in body["method"].get("withheld", []):
            m = m & ~self.kn.mask(unit=cell["unit_code"], month=cell["month"])
        shown = {r["text"] for r in body["rows"]}
        for r in body["rows"]:
            self.comment_seen[r["text"]] = (r["unit_code"], r.get("month"), r.get("sentiment"))
        complete = not body.get("more") and not params.get("q")
        self.listings.append((m, shown, complete, params.get("sentiment")))
        if body.get("total") is not None and not params.get("q"):
            ch = f"sentiment:{params['sentiment']}" if params.get("sentiment") else "commented"
            self.kn.published += 1
            self.kn.add_value(m.astype(float), {ch: 1.0}, body["total"], 0.0, f"comments {params}")

    def themes(self, params: dict[str, Any]) -> None:
        body = self.get(f"campaigns/{self.kn.campaign.id}/comments/themes", params)
        if body is None:
            return
        by = params["by"]
        base = self.base(
            bool(params.get("include_flagged")),
            unit=params.get("unit_code"),
            area=params.get("area_code"),
        )
        for g in body["groups"]:
            m = base & self.kn.mask(**{by: g[f"{by}_code"]})
            label = f"themes {params} [{by}={g[f'{by}_code']}]"
            self.kn.published += 1
            # "respondents" is the size of the group under the filters.
            self.kn.add_count(m, g["respondents"], label + " respondents")
            coef = m.astype(float)
            self.kn.add_value(coef, {"commented": 1.0}, g["comments"], 0.0, label + " comments")
            for lab in LABELS:
                cnt = (g.get("sentiment") or {}).get(lab, {}).get("count")
                if cnt is not None:
                    self.kn.add_value(coef, {f"sentiment:{lab}": 1.0}, cnt, 0.0, label + " " + lab)

    def authors(self, k: int) -> list[Finding]:
        """Candidate authors of each listed comment: in every listing that showed it (and of
        the unit and month shown beside it), outside every complete listing that did not."""
        out = []
        people = self.kn.campaign.people
        for text, (unit, month, label) in self.comment_seen.items():
            cand = self.kn.mask(unit=unit, month=month)
            for m, shown, complete, wanted in self.listings:
                if text in shown:
                    cand &= m
                elif complete and wanted in (None, label):
                    cand &= ~m
            true = [i for i, q in enumerate(people) if q.comment == text]
            if not cand[true].all():  # the attacker's reading of the listings is wrong
                self.kn.conflicts.append(f"author of {text!r} outside the candidates")
            elif cand.sum() < k:
                how = f"candidates {np.flatnonzero(cand).tolist()}, truly {true}"
                size = int(cand.sum())
                out.append(
                    Finding(
                        self.kn.campaign.name,
                        f"author of {text!r}",
                        size,
                        "comment author",
                        size,
                        size,
                        how,
                    )
                )
        return out


def months(c: Campaign) -> list[str]:
    return sorted({q.attr("month") for q in c.people})


def attack(a: Attacker, k: int) -> None:
    c = a.kn.campaign
    cid = c.id
    people = c.people
    filters: list[dict[str, str | None]] = [{}]
    for key, attr in (
        ("unit_code", "unit"),
        ("area_code", "area"),
        ("age_band", "age_band"),
        ("sex", "sex"),
    ):
        filters += [{key: v} for v in sorted({q.attr(attr) for q in people})]
    bys = [",".join(b) for r in range(4) for b in itertools.combinations(BY_FIELDS, r)]
    small = bys[:16]  # groupings of up to two fields
    periods = (None, "day", "week", "month")
    path = f"campaigns/{cid}/indicators"
    # Budget (well under two minutes a backend): every grouping of up to two fields with every
    # period and filter and month; three-field groupings without a filter; weighted views
    # (where the campaign has margins) by up to one field.
    asks: list[tuple[str, str | None, dict[str, str | None], str | None, bool]]
    asks = [(by, p, f, None, False) for by, p, f in itertools.product(small, periods, filters)]
    asks += [(by, p, {}, None, False) for by, p in itertools.product(bys[16:], periods)]
    asks += [(by, None, f, m, False) for by, f, m in itertools.product(small, filters, months(c))]
    if c.margins:
        asks += [
            (by, p, f, None, True) for by, p, f in itertools.product(bys[:6], periods, filters)
        ]
        asks += [
            (by, None, f, m, True) for by, f, m in itertools.product(bys[:6], filters, months(c))
        ]
    for by, period, f, month, weighted in asks:
        a.table(path, {"by": by, "period": period, "weighted": weighted, "month": month, **f})
    tfilters = [f for f in filters if set(f) <= {"unit_code", "area_code"}]
    for by, period, f in itertools.product(bys[:6], ("day", "week", "month"), tfilters):
        a.table(f"campaigns/{cid}/trends", {"by": by, "period": period, **f})
    weighted_opts = (False, True) if c.margins else (False,)
    a.kn.answered()
    for by, f, month, weighted in itertools.product(
        ("unit", "district"), filters, (None, *months(c)), weighted_opts
    ):
        a.distribution({"by": by, "month": month, "weighted": weighted, **f})
    dim_options: list[dict[str, float] | None] = [None]
    dim_options += [{d: 1.0 if d == e else 0.0 for d in DIMS} for e in DIMS]
    for weighted, area, month, dw in itertools.product(
        weighted_opts, (None, *AREAS), (None, *months(c)), dim_options
    ):
        a.ranking({"weighted": weighted, "area_code": area, "month": month}, dw)
    for unit, area, sentiment in itertools.product((None, *UNITS), (None, *AREAS), (None, *LABELS)):
        a.comments({"unit_code": unit, "area_code": area, "sentiment": sentiment})
    for word in ("工作人员", "问题", "办"):
        a.comments({"q": word})
    for by, unit, area in itertools.product(("unit", "area"), (None, *UNITS), (None, *AREAS)):
        a.themes({"by": by, "unit_code": unit, "area_code": area})
    # What an evaluator must be refused: the flagged switch and the raw responses.
    # An answer to include_flagged is a finding in itself, and its rows join the equations.
    if a.table(path, {"include_flagged": True}):
        a.refusals_missing.append("indicators include_flagged")
        for by, f in itertools.product(small, filters):
            a.table(path, {"by": by, "include_flagged": True, **f})
    for fmt in ("csv", "json", "xlsx"):
        a.should_refuse(f"campaigns/{cid}/responses", {"format": fmt}, f"responses export {fmt}")
    for route in ("ranking", "trends", "comments", "distribution"):
        a.should_refuse(
            f"campaigns/{cid}/{route}", {"include_flagged": True}, f"{route} include_flagged"
        )


def test_an_evaluator_who_subtracts_recovers_no_group_under_k(
    client: TestClient, app: FastAPI, database_url: str
) -> None:
    from analytics.comments.job import score_all

    backend = backend_of(database_url)
    k = int(app.state.settings.min_group_size)
    campaigns = plan(datetime.now(UTC).date())
    tokens = seed(client, app.state.engine, campaigns)
    score_all(app.state.engine)
    started = time.monotonic()
    findings: list[Finding] = []
    refused: list[str] = []
    lines = []
    requests = 0
    for c in campaigns:
        a = Attacker(client, tokens["eval"], Knowledge(c))
        attack(a, k)
        a.kn.half_unit = 0.5 * 10.0 ** -max(a.decimals, 1)
        found, stats, unconfirmed = solve(a.kn, k)
        findings += found + a.authors(k)
        refused += [f"[{c.name}] {w}" for w in a.refusals_missing]
        requests += a.requests
        lines.append(
            f"{c.name}: {a.requests} requests, {a.kn.published} published rows, "
            + ", ".join(f"{v} {n}" for n, v in stats.items())
            + f", {sum(w.startswith('distribution') for *_r, w in a.kn.rows.values())} "
            "distinct equations from the distribution of answers"
        )
        lines += [f"  conflicting answers: {x}" for x in a.kn.conflicts[:5]]
        lines += [f"  not confirmed: {x}" for x in unconfirmed[:5]]
    elapsed = time.monotonic() - started
    add_figure("disclosure attack requests", requests, backend)
    add_figure("disclosure attack findings", len(findings) + len(refused), backend)
    summary = "\n".join([f"k={k}, {requests} requests in {elapsed:.1f}s", *lines])
    print(summary)  # noqa: T201
    problems = digest(findings) + [f"answered, should be refused: {r}" for r in refused]
    assert not problems, summary + "\n" + "\n".join(problems)
