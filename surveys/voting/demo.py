"""The demo district's livelihood projects: 300 deputies, 25 candidate projects voted on in a
published session, residents' proposals, progress on the selected projects, a published
satisfaction grading, an open 2027 vote to try the ballot page with, and the same slate as a
vote in the congress hall, not yet opened, with 230 of the 300 deputies signed in, to try the
sign-in desk, the seat cards and the big screen with."""

from __future__ import annotations

import json
import random
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.auth import hash_password
from service.models import Role, User
from service.progress import progress
from surveys.units.service import unit_by_code
from surveys.voting.ballots import cast_ballot
from surveys.voting.hall import mark_present
from surveys.voting.models import (
    BallotIn,
    Project,
    ProjectCreate,
    ProjectUpdateCreate,
    Proposal,
    ProposalCreate,
    ProposalStatus,
    ProposalSupport,
    SessionCreate,
    SessionKind,
    SessionMode,
)
from surveys.voting.projects import add_progress, create_project
from surveys.voting.proposals import create_proposal
from surveys.voting.sessions import close_session, create_session, open_session, publish_session

DEPUTY_PASSWORD = "minyi-deputy-demo"  # demo data only; documented in docs/voting.md
DEPUTIES = 300

# The demo's data (a file, not code): the 2026 candidate projects with each one's popularity
# among the deputies, residents' proposals with their supports, and the 2027 slate.
_DATA = json.loads((Path(__file__).parent / "data" / "demo_projects.json").read_text("utf-8"))
PROJECTS: list[dict[str, Any]] = _DATA["projects"]
PROPOSALS: list[dict[str, Any]] = _DATA["proposals"]
NEXT_YEAR: list[dict[str, Any]] = _DATA["next_year"]


def _deputies(s: Session) -> list[User]:
    password_hash = hash_password(DEPUTY_PASSWORD)
    s.execute(
        insert(User),
        [
            {
                "username": f"deputy{i:03d}",
                "display_name": f"代表{i:03d}",
                "role": Role.deputy,
                "is_active": True,
                "password_hash": password_hash,
            }
            for i in range(1, DEPUTIES + 1)
        ],
    )
    s.flush()
    return list(s.exec(select(User).where(User.role == Role.deputy).order_by(User.id)))  # type: ignore[arg-type]


def _project(s: Session, spec: dict[str, Any]) -> Project:
    dept, street = spec["sponsor"], spec["area"]
    sponsor = f"dept-{dept}" if unit_by_code(s, f"dept-{dept}") else "dept-civil"
    area = f"street-{street}" if unit_by_code(s, f"street-{street}") else None
    return create_project(
        s,
        data=ProjectCreate(
            title=spec["title"],
            title_en=spec["title_en"],
            description=spec.get("description", ""),
            category=spec["category"],
            budget=spec["budget"],
            sponsor_unit_code=sponsor,
            area_code=area,
        ),
    )


def build(*, engine: Engine, rng: random.Random, responses: int) -> None:
    """Deputies, projects, a published vote and grading, proposals, progress, an open vote."""
    with Session(engine) as s, progress("voting", DEPUTIES * 3) as p:
        if unit_by_code(s, "dept-civil") is None:
            sys.stderr.write("voting demo: the unit tree is missing; skipped\n")
            return
        deputies = _deputies(s)
        names = [d.username for d in deputies]
        projects = [_project(s, spec) for spec in PROJECTS]
        popularity = {
            pr.id: spec["popularity"] for pr, spec in zip(projects, PROJECTS, strict=True)
        }
        vs = create_session(
            s,
            data=SessionCreate(
                title="2026年区人大代表票决民生实事项目",
                title_en="2026 deputies' vote on livelihood projects",
                year=2026,
                project_ids=[pr.id or 0 for pr in projects],
                deputy_usernames=names,
                budget_cap=30_000_000,
                threshold="majority_of_all",
                on_no_fit="skip",
            ),
            actor="admin",
        )
        open_session(s, vs=vs, actor="admin")
        # About 95% turnout; each deputy leans a little for or against spending.
        for d in deputies:
            p.advance()
            if rng.random() < 0.05:
                continue
            lean = rng.gauss(0, 0.08)
            choices = {}
            for pid, pop in popularity.items():
                x = rng.random()
                if x < pop + lean:
                    choices[str(pid)] = "for"
                elif x < pop + lean + (1 - pop) * 0.6:
                    choices[str(pid)] = "against"
                else:
                    choices[str(pid)] = "abstain"
            cast_ballot(s, vs=vs, user=d, data=BallotIn(choices=choices))
        s.flush()
        close_session(s, vs=vs, actor="admin")
        publish_session(s, vs=vs, actor="admin")
        s.commit()

        # Progress on the selected projects through the year.
        assert vs.result is not None
        selected = [r["project_id"] for r in vs.result["projects"] if r["selected"]]
        notes = [
            "完成立项和方案设计",
            "完成招标，施工单位进场",
            "主体工程完工",
            "开展验收",
            "投入使用",
        ]
        percents: dict[int, int] = {}
        for pid in selected:
            project = s.get(Project, pid)
            assert project is not None
            target = rng.choice([35, 60, 80, 100, 100])
            day = date(2026, 3, 1)
            for step, pct in enumerate(sorted({min(target, v) for v in (10, 35, 60, 85, target)})):
                day += timedelta(days=rng.randint(30, 50))
                note = notes[min(step, len(notes) - 1)] if pct < 100 else notes[-1]
                add_progress(
                    s,
                    project=project,
                    data=ProjectUpdateCreate(
                        date=min(day, date(2026, 11, 20)), percent_done=pct, note=note
                    ),
                    actor="admin",
                )
            percents[pid] = target
        s.commit()

        # The deputies grade what was carried out (满意度测评), also published.
        sat = create_session(
            s,
            data=SessionCreate(
                kind=SessionKind.satisfaction,
                title="2026年民生实事项目实施情况满意度测评",
                title_en="2026 livelihood projects: satisfaction grading",
                year=2026,
                project_ids=selected,
                deputy_usernames=names,
                budget_cap=0,
            ),
            actor="admin",
        )
        open_session(s, vs=sat, actor="admin")
        for d in deputies:
            p.advance()
            if rng.random() < 0.07:
                continue
            marks = {}
            for pid in selected:
                good = 0.25 + 0.6 * percents[pid] / 100
                x = rng.random()
                marks[str(pid)] = (
                    "satisfied"
                    if x < good
                    else "basically_satisfied"
                    if x < good + 0.3
                    else "dissatisfied"
                )
            cast_ballot(s, vs=sat, user=d, data=BallotIn(choices=marks))
        close_session(s, vs=sat, actor="admin")
        publish_session(s, vs=sat, actor="admin")
        s.commit()

        # Residents' proposals with their supports (keyed hashes of made-up browsers).
        for spec in PROPOSALS:
            area, supports = spec["area_code"], spec["supports"]
            proposal = create_proposal(
                s,
                data=ProposalCreate(
                    title=spec["title"],
                    description=spec["description"],
                    category=spec["category"],
                    area_code=area if unit_by_code(s, area) else None,
                    rough_cost=spec["rough_cost"],
                ),
            )
            s.add_all(
                ProposalSupport(
                    proposal_id=proposal.id or 0,
                    supporter_key=f"{rng.getrandbits(256):064x}",
                    network_key=f"{rng.getrandbits(256):064x}",
                )
                for _ in range(supports)
            )
            proposal.support_count = supports
            s.add(proposal)
        s.commit()

        # Next year's vote is open: log in as a deputy and try /vote/<id>.
        upcoming = [_project(s, spec) for spec in NEXT_YEAR]
        for proposal in s.exec(select(Proposal)):
            match = next(
                (pr for pr in upcoming if proposal.title in pr.title or pr.title in proposal.title),
                None,
            )
            if match is not None:
                proposal.status = ProposalStatus.shortlisted
                proposal.project_id = match.id
                s.add(proposal)
        nxt = create_session(
            s,
            data=SessionCreate(
                title="2027年区人大代表票决民生实事项目",
                title_en="2027 deputies' vote on livelihood projects",
                year=2027,
                project_ids=[pr.id or 0 for pr in upcoming],
                deputy_usernames=names,
                budget_cap=6_000_000,
                max_for_per_ballot=4,
            ),
            actor="admin",
        )
        open_session(s, vs=nxt, actor="admin")
        for d in deputies[10:70]:
            p.advance(DEPUTIES // 60)
            picks = rng.sample([pr.id for pr in upcoming], 4)
            cast_ballot(
                s,
                vs=nxt,
                user=d,
                data=BallotIn(
                    choices={
                        str(pr.id): ("for" if pr.id in picks else "abstain") for pr in upcoming
                    }
                ),
            )
        hall = create_session(
            s,
            data=SessionCreate(
                title="区人民代表大会票决2027年民生实事项目（大会现场）",
                title_en="2027 livelihood projects: the vote in the congress hall",
                year=2027,
                project_ids=[pr.id or 0 for pr in upcoming],
                deputy_usernames=names,
                budget_cap=6_000_000,
                max_selected=4,
                max_for_per_ballot=4,
                on_tie="runoff",
                mode=SessionMode.hall,
            ),
            actor="admin",
        )
        # Deputies arriving at the hall: the quorum (two thirds of 300, so 200) is met.
        for d in deputies[:230]:
            mark_present(s, vs=hall, username=d.username, actor="admin")
        s.commit()
        ids = (vs.id, sat.id, nxt.id, hall.id)
    sys.stderr.write(
        f"demo deputies: deputy001 … deputy{DEPUTIES:03d} / {DEPUTY_PASSWORD}; results at "
        f"/results/{ids[0]} and /results/{ids[1]}, the open 2027 vote at /vote/{ids[2]} "
        f"(deputy001 has not voted yet); the hall vote's desk at "
        f"/admin/voting-sessions/{ids[3]}/hall and its big screen at /hall/{ids[3]}\n"
    )
