"""A campaign's form compiled for fast checking, and the per-process cache that holds it.

The public response endpoint validates every submission against the compiled form held in
memory, so the hot path touches no database until the writer stores the response. Entries
expire after a few seconds (other processes may have changed the campaign) and are dropped at
once when this process changes it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from service.errors import Invalid, error_item
from surveys.forms.models import (
    Access,
    Campaign,
    CampaignUnit,
    Question,
    QuestionType,
)
from surveys.forms.schemas import MAX_TEXT, ResponseIn
from surveys.units.models import AREA_KINDS, Unit

NUMERIC = (QuestionType.rating, QuestionType.nps, QuestionType.number)

# One answer as stored: (question_key, value_num, value_text).
StoredAnswer = tuple[str, float | None, str | None]


@dataclass(frozen=True, slots=True)
class CompiledQuestion:
    key: str
    type: QuestionType
    required: bool
    lo: float | None
    hi: float | None
    options: frozenset[str] | None
    show_if: tuple[str, str, Any] | None


@dataclass(slots=True)
class Checked:
    """A submission that passed every check, ready to be stored."""

    unit_id: int
    area_unit_id: int | None
    answers: list[StoredAnswer]
    ratings: list[tuple[float, float, float]]
    comment: str | None


@dataclass(slots=True)
class CompiledForm:
    campaign_id: int
    survey_id: int
    access: Access
    opens_at: datetime
    closes_at: datetime
    purged: bool
    units: dict[str, int]
    areas: dict[str, int]
    questions: tuple[CompiledQuestion, ...]
    by_key: dict[str, CompiledQuestion] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_key = {q.key: q for q in self.questions}

    def status(self, now: datetime) -> str:
        """scheduled, open or closed."""
        if now < self.opens_at:
            return "scheduled"
        if now >= self.closes_at:
            return "closed"
        return "open"

    def check(self, data: ResponseIn, *, require_code: bool = True) -> Checked:
        """Re-validate everything the page validated; 422 naming each bad field.

        ``require_code=False`` is for imports of answers collected on paper or by phone.
        """
        errors: list[dict[str, Any]] = []
        unit_id = self.units.get(data.unit_code)
        if unit_id is None:
            errors.append(error_item(("body", "unit_code"), "not a unit of this campaign"))
        area_id = None
        if data.area_code:
            area_id = self.areas.get(data.area_code)
            if area_id is None:
                errors.append(error_item(("body", "area_code"), "unknown area code"))
        if (
            require_code
            and self.access is Access.invitation
            and not (data.invitation_code or "").strip()
        ):
            errors.append(
                error_item(
                    ("body", "invitation_code"), "an invitation code is required for this survey"
                )
            )
        for key in data.answers:
            if key not in self.by_key:
                errors.append(error_item(("body", "answers", key), "unknown question"))
        values: dict[str, Any] = {}
        answers: list[StoredAnswer] = []
        ratings: list[tuple[float, float, float]] = []
        for q in self.questions:
            if q.show_if is not None and not _shown(q.show_if, values):
                continue  # answers to questions not shown are discarded
            raw = data.answers.get(q.key)
            try:
                value = _coerce(q, raw)
            except ValueError as exc:
                errors.append(error_item(("body", "answers", q.key), str(exc)))
                continue
            if value is None:
                if q.required:
                    errors.append(error_item(("body", "answers", q.key), "an answer is required"))
                continue
            values[q.key] = value
            if q.type is QuestionType.multi_choice:
                answers.append((q.key, None, " ".join(value)))
            elif q.type is QuestionType.single_choice or q.type is QuestionType.text:
                answers.append((q.key, None, value))
            else:
                answers.append((q.key, float(value), None))
                if q.type is QuestionType.rating:
                    ratings.append((float(value), q.lo or 0.0, q.hi or 0.0))
        if errors:
            raise Invalid(errors)
        comment = (data.comment or "").strip() or None
        assert unit_id is not None
        return Checked(unit_id, area_id, answers, ratings, comment)


def _number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("a number is expected")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError("a number is expected") from None
    else:
        raise ValueError("a number is expected")
    if not math.isfinite(value):
        raise ValueError("a finite number is expected")
    return value


def _coerce(q: CompiledQuestion, raw: Any) -> Any:
    """The answer in its stored form, None when unanswered; ValueError names the problem."""
    if raw is None or raw == "" or raw == []:
        return None
    t = q.type
    if t in NUMERIC:
        value = _number(raw)
        if t is not QuestionType.number and not value.is_integer():
            raise ValueError("a whole number is expected")
        if (q.lo is not None and value < q.lo) or (q.hi is not None and value > q.hi):
            lo = "" if q.lo is None else f"{q.lo:g}"
            hi = "" if q.hi is None else f"{q.hi:g}"
            raise ValueError(f"must be between {lo} and {hi}")
        return int(value) if t is not QuestionType.number else value
    if t is QuestionType.single_choice:
        if not isinstance(raw, str) or raw not in (q.options or ()):
            raise ValueError("not one of the options")
        return raw
    if t is QuestionType.multi_choice:
        chosen = [raw] if isinstance(raw, str) else raw
        if not isinstance(chosen, list) or not all(isinstance(v, str) for v in chosen):
            raise ValueError("a list of options is expected")
        if any(v not in (q.options or ()) for v in chosen):
            raise ValueError("not one of the options")
        return sorted(set(chosen))
    if not isinstance(raw, str):
        raise ValueError("text is expected")
    text = raw.strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"at most {MAX_TEXT} characters")
    return text or None


def _shown(cond: tuple[str, str, Any], values: dict[str, Any]) -> bool:
    key, op, target = cond
    if key not in values:
        return False
    v = values[key]
    if isinstance(v, list):  # multi_choice: any selected option matches
        if op == "eq":
            return target in v
        if op == "ne":
            return target not in v
        if op == "in":
            return any(x in target for x in v)
        return False
    if op == "eq":
        return bool(v == target)
    if op == "ne":
        return bool(v != target)
    if op == "in":
        return v in target
    try:
        if op == "lt":
            return bool(v < target)
        if op == "le":
            return bool(v <= target)
        if op == "gt":
            return bool(v > target)
        if op == "ge":
            return bool(v >= target)
    except TypeError:
        return False
    return False


def compile_question(q: Question) -> CompiledQuestion:
    cond = None
    if q.show_if:
        cond = (q.show_if["key"], q.show_if.get("op", "eq"), q.show_if.get("value"))
    options = frozenset(o["value"] for o in q.options) if q.options else None
    return CompiledQuestion(
        key=q.key,
        type=QuestionType(q.type),
        required=q.required,
        lo=None if q.scale_min is None else float(q.scale_min),
        hi=None if q.scale_max is None else float(q.scale_max),
        options=options,
        show_if=cond,
    )


def compile_campaign(s: Session, campaign: Campaign) -> CompiledForm:
    """A campaign with its questions, its units and the area units, compiled for checking."""
    questions = s.exec(
        select(Question)
        .where(Question.survey_id == campaign.survey_id)
        .order_by(col(Question.position))
    ).all()
    units = s.exec(
        select(Unit.code, Unit.id)
        .join(CampaignUnit, col(CampaignUnit.unit_id) == col(Unit.id))
        .where(CampaignUnit.campaign_id == campaign.id)
    ).all()
    areas = s.exec(
        select(Unit.code, Unit.id).where(col(Unit.kind).in_([k.value for k in AREA_KINDS]))
    ).all()
    return CompiledForm(
        campaign_id=campaign.id or 0,
        survey_id=campaign.survey_id,
        access=Access(campaign.access),
        opens_at=campaign.opens_at,
        closes_at=campaign.closes_at,
        purged=campaign.purged_at is not None,
        units={code: uid for code, uid in units if uid is not None},
        areas={code: uid for code, uid in areas if uid is not None},
        questions=tuple(compile_question(q) for q in questions),
    )


def load_form(engine: Engine, campaign_id: int) -> CompiledForm | None:
    """Read and compile a campaign's form (None when there is no such campaign)."""
    with Session(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        return None if campaign is None else compile_campaign(s, campaign)


class FormCache:
    """Compiled forms by campaign id, each trusted for ``ttl`` seconds.

    An expired form is still used while one background load refreshes it, so a busy server
    never stalls all its requests on the same reload; the writer re-reads the campaign window
    from the database at commit time, so a stale window can never let a late response in.
    """

    MAX_ENTRIES = 2000

    def __init__(self, engine: Engine, ttl: float = 5.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._entries: dict[int, tuple[float, CompiledForm | None]] = {}
        self._loading: dict[int, asyncio.Future[CompiledForm | None]] = {}
        self._refreshing: set[int] = set()
        self._lock = threading.Lock()

    def load(self, campaign_id: int) -> CompiledForm | None:
        """Read the campaign's form from the database and remember it."""
        try:
            form = load_form(self.engine, campaign_id)
            with self._lock:
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
                self._entries[campaign_id] = (time.monotonic(), form)
            return form
        finally:
            self._refreshing.discard(campaign_id)

    async def aget(self, campaign_id: int) -> CompiledForm | None:
        """The compiled form for the event loop: no database access unless it was never loaded."""
        entry = self._entries.get(campaign_id)
        if entry is not None and entry[1] is not None:
            if time.monotonic() - entry[0] >= self.ttl and campaign_id not in self._refreshing:
                self._refreshing.add(campaign_id)
                asyncio.get_running_loop().run_in_executor(None, self.load, campaign_id)
            return entry[1]
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return None  # a recent "no such campaign"
        # Concurrent first requests share one load.
        fut = self._loading.get(campaign_id)
        if fut is None or fut.get_loop() is not asyncio.get_running_loop():
            fut = asyncio.ensure_future(run_in_threadpool(self.load, campaign_id))
            self._loading[campaign_id] = fut
            fut.add_done_callback(lambda _f: self._loading.pop(campaign_id, None))
        return await asyncio.shield(fut)

    def invalidate(self, campaign_id: int | None = None) -> None:
        """Forget one campaign, or all (after a change made in this process)."""
        with self._lock:
            if campaign_id is None:
                self._entries.clear()
            else:
                self._entries.pop(campaign_id, None)
