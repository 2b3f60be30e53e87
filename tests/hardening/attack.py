"""An evaluator who subtracts: small campaigns of known truth and the algebra of what the
published numbers reveal about groups of fewer than k respondents.

Every published count, sum and sum of squares (n, mean x n, sd) of a row is a linear function
of the respondents' values with the row's indicator (or weight) vector as coefficients. So what
any combination of answers can reveal about a group G is exactly whether G's vector lies in the
row space of the matrix Q of every published row. Columns are (respondent, channel): one
channel per point of each rated question's scale (1 when the respondent chose it: the
distribution of answers publishes counts of exactly these), one for "left a comment" and one
per sentiment label. An answer is the sum of its points times their values, so a mean's
equation puts v on channel "question=v" (a row without ``dimension`` pools all five
dimensions), and means and point counts combine in one row space. Counts of respondents get
their own matrix (respondents as columns).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from analytics.comments import sentiment as sentiment_model
from service.models import Role
from tests.hardening.world import add_user, bearer_for
from tests.surveys.forms.factories import DIMENSIONS as DIM_ROWS
from tests.surveys.forms.factories import campaign_body, survey_body

DIMS = [d for d, _zh, _en in DIM_ROWS]
LABELS = ("positive", "negative", "neutral")
# The points of each rated question's scale: every answer is one of them.
POINTS: dict[str, tuple[int, ...]] = {d: tuple(range(1, 6)) for d in DIMS} | {
    "nps": tuple(range(11))
}
CHANNELS = [
    *(f"{q}={v}" for q, vs in POINTS.items() for v in vs),
    "commented",
    *(f"sentiment:{lab}" for lab in LABELS),
]
ATTRS = ("unit", "area", "age_band", "sex", "day", "week", "month")
UNITS = ("atk-u1", "atk-u2", "atk-u3")
AREAS = ("atk-a1", "atk-a2", "atk-a3")
# Membership of the row space: an exact member projects with a residual of rounding size
# (~1e-13 for 0/1 rows of a few hundred columns); a non-member is at least about 1/sqrt(m) away
# for rows of small integers (m respondents) and no less than ~1e-3 with the raking weights
# used here, so 1e-6 separates the two by orders of magnitude either way.
RESIDUAL_TOL = 1e-6
RANK_RTOL = 1e-9


@dataclass
class Person:
    campaign: str
    unit: str
    area: str
    age_band: str
    sex: str
    at: datetime
    answers: dict[str, int]
    comment: str | None = None
    flagged: bool = False
    label: str | None = None  # sentiment of the comment, by the model the views use

    def attr(self, name: str) -> str:
        if name == "day":
            return self.at.date().isoformat()
        if name == "week":
            return (self.at.date() - timedelta(days=self.at.weekday())).isoformat()
        if name == "month":
            return self.at.strftime("%Y-%m")
        return str(getattr(self, name))

    def period(self, period: str) -> str:
        return self.attr(period)


@dataclass
class Campaign:
    name: str
    people: list[Person]
    margins: dict[str, Any] | None = None
    id: int = 0


def _answers(rng: np.random.Generator) -> dict[str, int]:
    # Varied ratings (never one value down the grid) and a recommend score.
    vals = rng.integers(1, 6, size=len(DIMS))
    if len(set(vals.tolist())) == 1:
        vals[0] = 1 + vals[0] % 5
    return {d: int(v) for d, v in zip(DIMS, vals, strict=True)} | {"nps": int(rng.integers(0, 11))}


def plan(today: date, seed: int = 15) -> list[Campaign]:
    """Three small campaigns: a 7/3 unit and a 1-person area; a 4+1 week and a flagged
    response; a 2-person weighting cell. Every time is noon UTC in the past five weeks."""
    rng = np.random.default_rng(seed)
    week = today - timedelta(days=today.weekday() + 14)  # a Monday two weeks back
    noon = datetime(week.year, week.month, week.day, 12, tzinfo=UTC)
    texts = iter(
        [
            "窗口工作人员态度很好，办事很快",
            "排队时间太长，没人管，很失望",
            "社区环境改善很大，感谢工作人员",
            "打了三次电话都没人处理问题",
            "办事流程简单，网上就能办好了",
            "手续繁琐，跑了好几趟还没办成",
            "服务热情周到，一次就办好了",
            "推来推去，问题一直没解决",
        ]
    )

    def p(
        camp: str, unit: int, area: int, age: str, sex: str, day: int, text: bool = False
    ) -> Person:
        return Person(
            camp,
            UNITS[unit],
            AREAS[area],
            age,
            sex,
            noon + timedelta(days=day),
            _answers(rng),
            next(texts) if text else None,
        )

    sexes: list[Person] = []
    for i in range(10):  # unit 1: 7 women, 3 men, in areas 1 and 2
        sex = "female" if i < 7 else "male"
        sexes.append(p("sexes", 0, i % 2, ("30-39", "40-49")[i % 2], sex, -i, i in (2, 8)))
    for i in range(6):  # unit 2: one of them is the only respondent of area 3
        sexes.append(
            p(
                "sexes",
                1,
                2 if i == 5 else i % 2,
                "50-59",
                ("female", "male")[i % 2],
                -i - 3,
                i in (0, 5),
            )
        )
    weeks: list[Person] = []
    for i in range(4):  # a week holding 4 respondents on Tuesday and 1 on Thursday
        weeks.append(p("weeks", i % 2, i % 2, "30-39", ("female", "male")[i % 2], 1, i == 0))
    weeks.append(p("weeks", 1, 0, "40-49", "female", 3, True))
    for i in range(8):  # the rest one and two weeks earlier
        weeks.append(
            p(
                "weeks",
                i % 2,
                (i + 1) % 2,
                ("30-39", "40-49")[i % 2],
                ("female", "male")[(i // 2) % 2],
                -7 - i,
            )
        )
    weights: list[Person] = []
    for i in range(14):  # 2 respondents aged 18-29, 12 aged 30-39
        weights.append(
            p(
                "weights",
                i % 2,
                (i // 2) % 2,
                "18-29" if i in (3, 10) else "30-39",
                ("female", "male")[(i // 3) % 2],
                -(i % 6),
            )
        )
    margins = {"age_band": {"18-29": 0.3, "30-39": 0.7}}
    out = [
        Campaign("sexes", sexes),
        Campaign("weeks", weeks),
        Campaign("weights", weights, margins),
    ]
    labelled = [q for c in out for q in c.people if q.comment]
    for q, res in zip(
        labelled, sentiment_model.classify([q.comment or "" for q in labelled]), strict=True
    ):
        q.label = res["label"]
    return out


def seed(
    client: TestClient, engine: Engine, campaigns: list[Campaign]
) -> dict[str, dict[str, str]]:
    """Accounts, units, one survey, the campaigns and their responses, all through the API
    (imports as the admin; the flagged response from the public form, answered too fast)."""
    with Session(engine) as s:
        add_user(s, Role.admin, "atk-admin")
        add_user(s, Role.evaluator, "atk-eval")
        s.commit()
    tokens = {r: bearer_for(engine, f"atk-{r}") for r in ("admin", "eval")}
    admin = tokens["admin"]
    for code, kind in [*((u, "department") for u in UNITS), *((a, "community") for a in AREAS)]:
        body = {"code": code, "name": code, "name_en": code, "kind": kind}
        ok(client.post("/api/v1/units", json=body, headers=admin))
    survey = ok(client.post("/api/v1/surveys", json=survey_body(), headers=admin))["id"]
    now = datetime.now(UTC)
    for c in campaigns:
        extra: dict[str, Any] = {"unit_codes": list(UNITS), "margins": c.margins}
        extra["opens_at"] = (now - timedelta(days=40)).isoformat()
        extra["closes_at"] = (now + timedelta(days=5)).isoformat()
        c.id = ok(
            client.post("/api/v1/campaigns", json=campaign_body(survey, **extra), headers=admin)
        )["id"]
        rows = [_body(q) | {"submitted_at": q.at.isoformat()} for q in c.people]
        ok(client.post(f"/api/v1/campaigns/{c.id}/responses/import", json=rows, headers=admin))
    flagged = campaigns[1]
    rng = np.random.default_rng(7)
    q = Person(flagged.name, UNITS[1], AREAS[1], "30-39", "male", now, _answers(rng), flagged=True)
    body = _body(q)
    body["form_token"] = ok(client.get(f"/api/v1/campaigns/{flagged.id}/form"))["form_token"]
    ok(client.post(f"/api/v1/campaigns/{flagged.id}/responses", json=body), 201)
    q.at = datetime.now(UTC)  # the day the server stored it
    flagged.people.append(q)
    c0 = ok(client.get(f"/api/v1/campaigns/{flagged.id}", headers=admin))
    assert c0["flagged_count"] == 1, c0  # the fast answer is what the views leave out
    return tokens


def ok(r: Any, *codes: int) -> Any:
    assert r.status_code in (codes or (200, 201)), (r.request.method, r.request.url, r.text)
    return r.json()


def _body(q: Person) -> dict[str, Any]:
    return {
        "unit_code": q.unit,
        "area_code": q.area,
        "profile": {"age_band": q.age_band, "sex": q.sex},
        "answers": {
            **{d: q.answers[d] for d in DIMS},
            "recommend": q.answers["nps"],
            "channel": "hall",
        },
        "comment": q.comment,
        "submission_id": uuid.uuid4().hex,
    }


@dataclass
class Knowledge:
    """Everything published about one campaign, as linear equations over its respondents."""

    campaign: Campaign
    rows: dict[bytes, tuple[np.ndarray, float, float, str]] = field(default_factory=dict)
    counts: dict[bytes, tuple[np.ndarray, float, str]] = field(default_factory=dict)
    published: int = 0
    half_unit: float = 0.5  # half the last published digit of a mean (set from what was seen)
    conflicts: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.campaign.people)

    def mask(self, **want: str | None) -> np.ndarray:
        """Respondents whose attributes equal every given (not None) value."""
        m = np.ones(self.size, dtype=bool)
        for name, value in want.items():
            if value is not None:
                m &= np.array([q.attr(name) == value for q in self.campaign.people])
        return m

    def add_count(self, members: np.ndarray, n: float, why: str) -> None:
        vec = members.astype(float)
        key = np.round(vec, 9).tobytes()
        self.counts.setdefault(key, (vec, float(n), why))

    def add_value(
        self, coef: np.ndarray, channels: dict[str, float], value: float, err: float, why: str
    ) -> None:
        """One equation: sum over respondents i and channels c of coef[i] * w[c] * x[i, c]
        equals ``value``, known to within ``err`` units of the published rounding. A rated
        question as channel stands for its answer: sum over its points v of v * [answer = v]."""
        flat = channel_vector(self.size, coef, channels)
        key = np.round(flat, 9).tobytes()
        old = self.rows.get(key)
        if old is None:
            self.rows[key] = (flat, float(value), float(err), why)
        elif abs(old[1] - value) > (old[2] + err) * self.half_unit + 1e-9:
            self.conflicts.append(f"{why}: {value} vs {old[1]} ({old[3]})")

    def answered(self) -> None:
        """What the attacker knows of every respondent: one point of each question's scale
        chosen (the questionnaire requires an answer; the published n_answers = n agrees)."""
        for i in range(self.size):
            one = np.zeros(self.size)
            one[i] = 1.0
            for q, vs in POINTS.items():
                chans = {f"{q}={v}": 1.0 for v in vs}
                self.add_value(one, chans, 1.0, 0.0, f"respondent #{i} answered {q} once")

    def truth(self) -> np.ndarray:
        x = np.zeros((self.size, len(CHANNELS)))
        for i, q in enumerate(self.campaign.people):
            for d in [*DIMS, "nps"]:
                x[i, CHANNELS.index(f"{d}={q.answers[d]}")] = 1.0
            x[i, CHANNELS.index("commented")] = 1.0 if q.comment else 0.0
            if q.label:
                x[i, CHANNELS.index(f"sentiment:{q.label}")] = 1.0
        return x.ravel()


def channel_vector(size: int, coef: np.ndarray, channels: dict[str, float]) -> np.ndarray:
    """The flat (respondent, channel) coefficients of sum_i coef[i] * sum_c w[c] * x[i, c]."""
    vec = np.zeros((size, len(CHANNELS)))
    for ch, w in channels.items():
        if ch in POINTS:
            for v in POINTS[ch]:
                vec[:, CHANNELS.index(f"{ch}={v}")] += coef * w * v
        else:
            vec[:, CHANNELS.index(ch)] += coef * w
    return vec.ravel()


@dataclass
class Finding:
    campaign: str
    target: str
    size: int
    kind: str
    recovered: float
    truth: float
    how: str

    def __str__(self) -> str:
        return (
            f"[{self.campaign}] {self.target} (n={self.size}): {self.kind} recovered "
            f"{self.recovered:.4f} vs truth {self.truth:g}; {self.how}"
        )


def targets(people: list[Person], k: int) -> dict[bytes, tuple[np.ndarray, str]]:
    """Every group under k an evaluator could name: each respondent, and each combination of
    attribute values, among all respondents and among those not flagged."""
    out: dict[bytes, tuple[np.ndarray, str]] = {}
    for i, q in enumerate(people):
        m = np.zeros(len(people), dtype=bool)
        m[i] = True
        out[m.tobytes()] = (m, f"respondent #{i} ({q.unit}, {q.area}, {q.sex}, {q.attr('day')})")
    for r in range(1, len(ATTRS) + 1):
        for names in itertools.combinations(ATTRS, r):
            for pool in ("all", "unflagged"):
                groups: dict[tuple[str, ...], list[int]] = {}
                for i, q in enumerate(people):
                    if pool == "all" or not q.flagged:
                        groups.setdefault(tuple(q.attr(a) for a in names), []).append(i)
                for values, idx in groups.items():
                    if not 1 <= len(idx) < k:
                        continue
                    m = np.zeros(len(people), dtype=bool)
                    m[idx] = True
                    desc = ", ".join(f"{a}={v}" for a, v in zip(names, values, strict=True))
                    out.setdefault(m.tobytes(), (m, desc + (" (not flagged)" * (pool != "all"))))
    return out


def _basis(rows: list[np.ndarray], width: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, width))
    a = np.vstack(rows)
    _u, s, vt = np.linalg.svd(a, full_matrices=False)
    rank = int((s > s[0] * RANK_RTOL * max(a.shape)).sum()) if len(s) and s[0] > 0 else 0
    return vt[:rank]


def _explain(rows: list[np.ndarray], whys: list[str], target: np.ndarray, c: np.ndarray) -> str:
    """The shortest story: one published row, the difference or sum of two, else the
    rows carrying most of the (minimum norm) combination."""
    index = {np.round(r, 9).tobytes(): j for j, r in enumerate(rows)}
    key = np.round(target, 9).tobytes()
    if key in index:
        return f"one row: {whys[index[key]]}"
    for j, r in enumerate(rows):
        for sign, word in ((1, "minus"), (-1, "plus")):
            other = index.get(np.round(sign * (r - target), 9).tobytes())
            if other is not None and other != j:
                return f"{whys[j]} {word} {whys[other]}"
    top = np.argsort(-np.abs(c))[:3]
    return f"{int((np.abs(c) > 1e-9).sum())} rows, mostly " + " | ".join(
        f"{c[j]:+.2f} x {whys[j]}" for j in top
    )


def solve(kn: Knowledge, k: int) -> tuple[list[Finding], dict[str, int], list[str]]:
    """Test every target against the row spaces; a finding needs the vector in the row space
    AND the value from the published numbers to round to the truth within a rounding bound
    under 0.5 (sums of whole-number answers are whole), so rounding noise never counts.

    Per group: its count; the sum of each question's answers (and of all five dimensions);
    how many left a comment; and how many chose each point of each question's scale (what
    the distribution of answers publishes for groups of k or more)."""
    people = kn.campaign.people
    width_v = kn.size * len(CHANNELS)
    v_rows = [r[0] for r in kn.rows.values()]
    v_b = np.array([r[1] for r in kn.rows.values()])
    v_err = np.array([r[2] for r in kn.rows.values()])
    v_why = [r[3] for r in kn.rows.values()]
    c_rows = [r[0] for r in kn.counts.values()]
    c_b = np.array([r[1] for r in kn.counts.values()])
    c_why = [r[2] for r in kn.counts.values()]
    truth = kn.truth()
    # (matrix, group, its description, kind, vector); each matrix's checks are tested at once.
    checks: list[tuple[str, np.ndarray, str, str, np.ndarray]] = []
    for m, desc in targets(people, k).values():
        coef = m.astype(float)
        checks.append(("counts", m, desc, "count", coef))
        for ch in [*DIMS, "nps", "all dimensions", "commented"]:
            chans = dict.fromkeys(DIMS if ch == "all dimensions" else [ch], 1.0)
            checks.append(("values", m, desc, f"sum of {ch}", channel_vector(kn.size, coef, chans)))
        for q, vs in POINTS.items():
            for v in vs:
                vec = channel_vector(kn.size, coef, {f"{q}={v}": 1.0})
                checks.append(("values", m, desc, f"count of {q}={v}", vec))
    findings: list[Finding] = []
    unconfirmed: list[str] = []
    ranks = {}
    for name, rows, b, err, why, width, x in (
        ("values", v_rows, v_b, v_err, v_why, width_v, truth),
        ("counts", c_rows, c_b, np.zeros(len(c_b)), c_why, kn.size, None),
    ):
        basis = _basis(rows, width)
        ranks[name] = len(basis)
        mine = [c for c in checks if c[0] == name]
        if not len(basis) or not mine:
            continue
        t_all = np.vstack([c[4] for c in mine])
        resid = np.linalg.norm(t_all - (t_all @ basis.T) @ basis, axis=1)
        resid /= np.linalg.norm(t_all, axis=1)
        hits = np.flatnonzero(resid <= RESIDUAL_TOL)
        if not len(hits):
            continue
        # Minimum-norm combinations of the published rows, as lstsq gives them.
        pinv = np.linalg.pinv(np.vstack(rows).T)
        for j in hits.tolist():
            _name, m, desc, kind, t = mine[j]
            c = pinv @ t
            got = float(c @ b)
            true = float(t @ x) if x is not None else float(m.sum())
            bound = float(np.abs(c) @ err) * kn.half_unit
            if bound < 0.5 and round(got) == round(true):
                findings.append(
                    Finding(
                        kn.campaign.name,
                        desc,
                        int(m.sum()),
                        kind,
                        got,
                        true,
                        _explain(rows, why, t, c),
                    )
                )
            else:
                unconfirmed.append(f"{desc} {kind}: {got:.4f} vs {true:g} (bound {bound:.3g})")
    stats = {
        "published rows (distinct equations)": len(v_rows) + len(c_rows),
        "rank of Q (values)": ranks.get("values", 0),
        "rank of Q (counts)": ranks.get("counts", 0),
        "targets x kinds tested": len(checks),
        "in the row space but not confirmed by the values": len(unconfirmed),
    }
    return findings, stats, unconfirmed


def digest(findings: list[Finding]) -> list[str]:
    """One line per recovered group: what was recovered (recovered = truth) and how, shown
    for the first sum recovered (else the count or the comment)."""
    groups: dict[tuple[str, str, int], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.campaign, f.target, f.size), []).append(f)
    out = []
    for (camp, target, size), fs in groups.items():
        got = "; ".join(
            f.kind
            if f.kind == "comment author"
            else f"{f.kind.removeprefix('sum of ')} {f.recovered:.3f}={f.truth:g}"
            for f in fs
        )
        shown = next((f for f in fs if f.kind.startswith("sum")), fs[0])
        out.append(f"[{camp}] {target} (n={size}): {got}. How ({shown.kind}): {shown.how}")
    return out
