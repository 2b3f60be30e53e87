"""The demo district's survey data: the five-dimension questionnaire, a year-long campaign
over every unit with ``responses`` responses, and a small invitation-mode campaign.

The responses carry believable structure: each unit has its own level, dimension profile and
trend over the year (a few improve, a few slip); residents' areas and age bands shift ratings a
little; comments are realistic praise and complaints in Chinese, more negative where ratings
are low; about one in twelve was collected on paper and imported; a few stuffing attempts
(bursts of identical answers and comments from one client) are flagged as the live service
would flag them. Rows go in through ``store_batch`` in chunks, so the statistics are kept in
the same transactions, exactly as for live responses.
"""

from __future__ import annotations

import math
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from service.db import utcnow
from service.progress import progress
from surveys.forms.models import INVITATION_TABLE, Access, QuestionType
from surveys.forms.schemas import CampaignCreate, OptionIn, QuestionIn, SurveyCreate
from surveys.forms.service import create_campaign, create_invitations, create_survey
from surveys.forms.store import Pending, store_batch, write_transaction
from surveys.units.models import Unit

DIMENSIONS = [
    ("attitude", "服务态度", "Service attitude"),
    ("efficiency", "办事效率", "Efficiency"),
    ("transparency", "公开透明", "Openness and transparency"),
    ("integrity", "廉洁自律", "Integrity"),
    ("results", "为民实绩", "Results for residents"),
]
CHANNELS = [
    ("hall", "到窗口或大厅办理", "In person at a window"),
    ("online", "网上或手机办理", "Online or on the phone app"),
    ("hotline", "打电话（12345等）", "By phone (12345 and others)"),
    ("visit", "工作人员上门", "Staff came to me"),
]
AGE_BANDS = ["18-29", "30-39", "40-49", "50-59", "60-69", "70+"]
AGE_WEIGHTS = [0.14, 0.19, 0.2, 0.19, 0.17, 0.11]
AGE_EFFECT = {
    "18-29": -0.22,
    "30-39": -0.12,
    "40-49": 0.0,
    "50-59": 0.08,
    "60-69": 0.15,
    "70+": 0.2,
}
CHUNK = 5000

POSITIVE = [
    "窗口工作人员态度很好，耐心解答",
    "材料要求说得很清楚，一次就办完了",
    "工作人员主动帮忙填表，很暖心",
    "现在网上就能办，不用来回跑了，点赞",
    "社区干部经常上门走访，有事找得到人",
    "办事流程公开透明，收费明细都贴在墙上",
    "反映的路灯问题第二天就修好了，效率很高",
    "老年人办事有绿色通道，很贴心",
    "12345热线回复及时，问题解决得很好",
    "小区加装电梯的事终于落实了，感谢街道",
    "窗口延时服务，下班后也能办，方便上班族",
    "工作人员业务熟练，几分钟就办好了",
]
NEGATIVE = [
    "办事效率太低，跑了三趟还没办好",
    "排队时间太长，只开了两个窗口",
    "工作人员态度冷淡，问什么都说不知道",
    "材料要求前后说法不一，让人来回折腾",
    "打了好几次电话都没人接",
    "反映的问题推来推去，一直没人管",
    "网上预约系统经常登不上去",
    "说好一周办结，一个月了还没消息",
    "收费标准不公开，不知道钱花在哪里",
    "小区垃圾清运不及时，投诉了也没用",
    "中午休息不办公，上班族根本没时间来",
    "窗口人员玩手机，让群众干等",
]
MIXED = [
    "整体还可以，就是等的时间有点长",
    "态度不错，但是流程还可以再简化",
    "比去年有进步，希望继续保持",
    "办事还算顺利，停车太不方便",
    "工作人员挺好，就是宣传不到位，很多政策不知道",
]
ENDINGS = ["", "", "", "。", "！", "，希望继续改进。", "，谢谢！", "，建议多开几个窗口。"]
STUFFING = [
    # (unit code, rating, comment, count): a window or department pushing its own score, and
    # someone pushing a rival's down.
    ("win-hall-business", 5, "服务非常好，大力点赞！", 60),
    ("dept-housing", 5, "住建局办事效率高，为民办实事！", 40),
    ("dept-urban", 1, "城管执法粗暴，坚决差评！", 35),
]


def _questions() -> list[QuestionIn]:
    qs = [
        QuestionIn(
            key=key,
            type=QuestionType.rating,
            label=zh,
            label_en=en,
            dimension=key,
            scale_min=1,
            scale_max=5,
            required=True,
        )
        for key, zh, en in DIMENSIONS
    ]
    qs.append(
        QuestionIn(
            key="recommend",
            type=QuestionType.nps,
            label="您会向亲友推荐到这里办事吗？",
            label_en="Would you recommend this office to friends and family?",
        )
    )
    qs.append(
        QuestionIn(
            key="channel",
            type=QuestionType.single_choice,
            label="您这次是怎么办的？",
            label_en="How did you deal with them this time?",
            options=[OptionIn(value=v, label=zh, label_en=en) for v, zh, en in CHANNELS],
        )
    )
    return qs


class _Profile:
    """Each unit's hidden truth: level, dimension profile, trend, popularity."""

    def __init__(self, unit: Unit, rng: random.Random) -> None:
        kind = str(getattr(unit.kind, "value", unit.kind))
        base = {"service_window": 3.95, "community": 3.85, "department": 3.6}.get(kind, 3.7)
        self.unit_id = unit.id or 0
        self.kind = kind
        self.level = rng.gauss(base, 0.33)
        self.dims = {d: rng.gauss(0, 0.18) for d, _, _ in DIMENSIONS}
        self.dims["integrity"] += 0.15  # residents rate integrity a little higher everywhere
        self.dims["efficiency"] -= 0.12
        # A few units improve or slip clearly over the year; most drift little.
        r = rng.random()
        self.trend = (
            rng.uniform(0.35, 0.7)
            if r < 0.12
            else rng.uniform(-0.6, -0.3)
            if r < 0.22
            else rng.gauss(0, 0.08)
        )
        self.weight = {"service_window": 5.0, "department": 1.6, "street": 1.4}.get(
            kind, 0.8
        ) * rng.uniform(0.5, 1.5)


def _rating(latent: float, rng: random.Random) -> int:
    return max(1, min(5, round(latent + rng.gauss(0, 0.55))))


def _comment(mean: float, rng: random.Random) -> str:
    if mean >= 4.0:
        pool = POSITIVE if rng.random() < 0.9 else MIXED
    elif mean <= 2.8:
        pool = NEGATIVE if rng.random() < 0.9 else MIXED
    else:
        pool = rng.choice([POSITIVE, NEGATIVE, MIXED, MIXED])
    return rng.choice(pool) + rng.choice(ENDINGS)


def _moment(start: datetime, end: datetime, rng: random.Random) -> datetime:
    """A time in [start, end): busier in spring and autumn, on weekdays, in office hours."""
    span = (end - start).total_seconds()
    while True:
        t = start + timedelta(seconds=rng.random() * span)
        local = t + timedelta(hours=8)
        season = 1.0 + 0.35 * math.sin(2 * math.pi * (local.timetuple().tm_yday - 60) / 182.5)
        weekday = 1.0 if local.weekday() < 5 else 0.45
        hour = 1.0 if 8 <= local.hour < 20 else 0.12
        if rng.random() < season * weekday * hour / 1.35:
            return t


def build(*, engine: Engine, rng: random.Random, responses: int) -> None:
    """Create the questionnaire, the year-long campaign with its responses, and an invitation campaign."""
    from service.config import get_settings

    secret = get_settings().secret_key or ""
    now = utcnow()
    opens = datetime(now.year - 1, 12, 1, tzinfo=UTC) - timedelta(hours=8)
    if now - opens < timedelta(days=60):
        opens = now - timedelta(days=365)
    closes = datetime(opens.year + 1, 12, 31, 16, tzinfo=UTC)
    with Session(engine, expire_on_commit=False) as s:
        units = list(s.exec(select(Unit).order_by(col(Unit.id))))
        rated = [u for u in units if str(getattr(u.kind, "value", u.kind)) != "district"]
        communities = [u for u in units if str(getattr(u.kind, "value", u.kind)) == "community"]
        survey = create_survey(
            s,
            data=SurveyCreate(
                title="政风行风民主评议问卷",
                title_en="Public service and conduct review",
                description="请根据您最近一次办事的亲身感受打分：1 分很不满意，5 分非常满意。",
                questions=_questions(),
            ),
        )
        campaign = create_campaign(
            s,
            data=CampaignCreate(
                survey_id=survey.id or 0,
                title=f"{opens.year + 1}年度政风行风民主评议",
                title_en=f"{opens.year + 1} public service review",
                opens_at=opens,
                closes_at=closes,
                unit_codes=[u.code for u in rated],
                access=Access.open,
                profile_fields=["area", "age_band", "sex"],
            ),
        )
        windows = [u for u in units if u.code.startswith("win-")]
        invite = create_campaign(
            s,
            data=CampaignCreate(
                survey_id=survey.id or 0,
                title="政务服务中心办事后即时评价（凭邀请码）",
                title_en="Service centre: rate us after your visit (by invitation)",
                opens_at=now - timedelta(days=30),
                closes_at=now + timedelta(days=60),
                unit_codes=[u.code for u in windows],
                access=Access.invitation,
                profile_fields=["age_band", "sex"],
            ),
        )
        codes = create_invitations(s, campaign=invite, count=300, secret=secret)
        s.commit()
        ids = (survey.id or 0, campaign.id or 0, invite.id or 0)
    survey_id, campaign_id, invite_id = ids
    profiles = [_Profile(u, rng) for u in rated]
    weights = [p.weight for p in profiles]
    area_effect = {c.id: rng.gauss(0, 0.15) for c in communities}
    area_ids = [c.id or 0 for c in communities]
    area_weights = [rng.uniform(0.6, 1.6) for _ in communities]
    code_of = {u.id: u.code for u in units}

    def one(p: _Profile, at: datetime, cid: int, source: str = "web") -> Pending:
        t = (at - opens).total_seconds() / (closes - opens).total_seconds()
        area = rng.choices(area_ids, area_weights)[0] if rng.random() < 0.85 else None
        age = rng.choices(AGE_BANDS, AGE_WEIGHTS)[0] if rng.random() < 0.8 else None
        sex = rng.choice(["female", "male"]) if rng.random() < 0.8 else None
        mood = p.level + p.trend * (t - 0.5) + rng.gauss(0, 0.45)
        mood += area_effect.get(area, 0.0) + AGE_EFFECT.get(age or "", 0.0)
        ratings = {d: _rating(mood + p.dims[d], rng) for d, _, _ in DIMENSIONS}
        mean = sum(ratings.values()) / len(ratings)
        answers: list[tuple[str, float | None, str | None]] = [
            (d, float(v), None) for d, v in ratings.items()
        ]
        if rng.random() < 0.7:
            nps = max(0, min(10, round(2.5 * (mean - 1) + rng.gauss(0, 1.3))))
            answers.append(("recommend", float(nps), None))
        if rng.random() < 0.8:
            channel = (
                "hall"
                if p.kind == "service_window"
                else rng.choice(["hall", "online", "hotline", "visit", "online"])
            )
            answers.append(("channel", None, channel))
        flags = {"straight_line"} if len(set(ratings.values())) == 1 else set()
        return Pending(
            campaign_id=cid,
            survey_id=survey_id,
            unit_id=p.unit_id,
            answers=answers,
            submission_key=uuid.UUID(int=rng.getrandbits(128)).hex,
            area_unit_id=area,
            age_band=age,
            sex=sex,
            comment=_comment(mean, rng) if rng.random() < 0.28 else None,
            flags=flags,
            source=source,
            submitted_at=at,
        )

    stuffing = sum(n for *_, n in STUFFING)
    regular = max(0, responses - stuffing) if responses >= 10 * stuffing else responses
    by_code = {code_of[p.unit_id]: p for p in profiles}
    with progress("survey responses", regular + (responses - regular) + 120) as bar:
        done = 0
        while done < regular:
            n = min(CHUNK, regular - done)
            chunk = []
            for _ in range(n):
                p = rng.choices(profiles, weights)[0]
                at = _moment(opens, now, rng)
                chunk.append(one(p, at, campaign_id, "import" if rng.random() < 0.08 else "web"))
            _store(engine, chunk, now)
            done += n
            bar.set(done)
        if regular < responses:
            chunk = []
            for code, value, text, count in STUFFING:
                p = by_code.get(code) or profiles[0]
                start = _moment(opens, now - timedelta(hours=2), rng)
                for i in range(count):
                    item = one(p, start + timedelta(seconds=20 * i), campaign_id)
                    item.answers = [(d, float(value), None) for d, _, _ in DIMENSIONS]
                    item.comment = text
                    flags = {"straight_line"}
                    if i >= 10:
                        flags.add("burst")
                    if i >= 1:
                        flags.add("duplicate_comment")
                    item.flags = flags
                    chunk.append(item)
            _store(engine, chunk, now)
            bar.set(responses)
        # The invitation campaign: 120 of its 300 codes were used.
        chunk = [
            one(
                rng.choice([p for p in profiles if p.kind == "service_window"]),
                _moment(now - timedelta(days=30), now, rng),
                invite_id,
            )
            for _ in range(120)
        ]
        _store(engine, chunk, now)
        with write_transaction(engine) as conn:
            used = (
                conn.execute(
                    INVITATION_TABLE.select()
                    .with_only_columns(INVITATION_TABLE.c.id)
                    .where(INVITATION_TABLE.c.campaign_id == invite_id)
                    .order_by(INVITATION_TABLE.c.id)
                )
                .scalars()
                .all()
            )
            chosen = set(rng.sample(list(used), 120))
            conn.execute(
                update(INVITATION_TABLE).where(INVITATION_TABLE.c.id.in_(chosen)).values(used=True)
            )
        bar.set(responses + 120)
    # Codes were inserted in order, so the n-th code has the n-th id.
    free = [code for code, iid in zip(codes, used, strict=True) if iid not in chosen]
    sys.stderr.write(
        f"demo survey: /s/{campaign_id} (open, {responses:,} responses); "
        f"/s/{invite_id} (by invitation; an unused code: {free[0]})\n"
    )


def _store(engine: Engine, chunk: list[Pending], now: datetime) -> None:
    # Flags decided here (the generator knows what it faked) are written as they are.
    with write_transaction(engine) as conn:
        outcomes = store_batch(conn, chunk, now=now, enforce_window=False)
    assert all(getattr(o, "created", False) for o in outcomes), "demo rows must all be stored"
