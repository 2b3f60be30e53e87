"""The big screen in the hall (/hall/{id}): a full-screen page for the projector.

It draws the same state as ``GET /api/v1/voting-sessions/{id}/hall`` (``screen.hall_state``)
on the server, so the first paint is complete without JavaScript; hall_screen.js then polls
that JSON every second and redraws. Chinese unless ``?lang=en``: the hall reads Chinese,
whatever the projector's browser asks for.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from frontend.i18n import translate
from frontend.templating import render
from service.db import SessionDep
from surveys.voting import screen
from surveys.voting.dependencies import SessionById

router = APIRouter(include_in_schema=False)

# Every word the script needs to redraw the screen in the page's language.
_WORDS = (
    "hall.state.draft",
    "hall.state.open",
    "hall.state.closed",
    "hall.state.published",
    "hall.seated",
    "hall.present",
    "hall.quorum",
    "hall.quorum.share",
    "hall.quorum.none",
    "hall.quorum.met",
    "hall.quorum.not_met",
    "hall.cast",
    "hall.not_cast",
    "hall.paper",
    "hall.col.rank",
    "hall.col.title",
    "hall.col.budget",
    "hall.col.for",
    "hall.col.against",
    "hall.col.abstain",
    "hall.col.satisfied",
    "hall.col.basically_satisfied",
    "hall.col.dissatisfied",
    "hall.col.not_voted",
    "hall.col.outcome",
    "hall.passed",
    "hall.not_passed",
    "hall.selected",
    "hall.grade.satisfied",
    "hall.grade.basically_satisfied",
    "hall.grade.dissatisfied",
    "hall.money",
    "hall.turnout",
    "hall.turnout.opening",
    "hall.turnout.invalid",
    "hall.absent",
    "hall.col.invalid",
    "hall.threshold",
    "hall.budget",
    "hall.tie",
    "hall.cut_tie.pending",
    "hall.pending",
    "hall.round",
    "hall.counts_later",
    "results.void",
    "hall.offline",
)


def money(lang: str, yuan: int) -> str:
    """A budget as the hall reads it: 万元 in Chinese, yuan in English."""
    wan = f"{yuan / 10_000:,.2f}".rstrip("0").rstrip(".")
    return translate(lang, "hall.money", wan=wan, yuan=f"{yuan:,}")


@router.get("/hall/{session_id}", response_class=HTMLResponse)
def hall_screen_page(request: Request, vs: SessionById, session: SessionDep) -> HTMLResponse:
    """The big screen: attendance, then the live turnout, then the counts per candidate."""
    lang = "en" if request.query_params.get("lang") == "en" else "zh-CN"
    state = screen.hall_state(session, vs=vs)
    names = {
        row.project_id: row.title_en if lang == "en" and row.title_en else row.title
        for row in state.candidates
    }
    sep = ", " if lang == "en" else "、"
    tie_lines = [
        translate(
            lang,
            "hall.tie",
            n=tie.votes_for,
            names=sep.join(names[p] for p in tie.project_ids if p in names),
            how=tie.text_en if lang == "en" else tie.text,
        )
        for tie in state.ties
    ]
    cut = state.cut_tie
    if cut is not None and cut.pending:
        names_tied = sep.join(names[p] for p in cut.project_ids if p in names)
        tie_lines.append(translate(lang, "hall.cut_tie.pending", n=cut.votes_for, names=names_tied))
    round_lines = [
        translate(
            lang,
            "hall.round",
            n=i,
            places=r.places,
            names=sep.join(names[p] for p in r.selected if p in names),
        )
        for i, r in enumerate(state.rounds, start=2)
    ]
    words = {key: translate(lang, key) for key in _WORDS}
    boot: dict[str, Any] = {
        "url": f"/api/v1/voting-sessions/{vs.id}/hall",
        "lang": lang,
        "words": words,
    }
    response = render(
        request,
        "hall_screen.html",
        {
            "lang": lang,
            "t": lambda key, **kw: translate(lang, key, **kw),
            "s": state,
            "names": names,
            "tie_lines": tie_lines,
            "round_lines": round_lines,
            "money": lambda yuan: money(lang, yuan),
            "boot_json": json.dumps(boot, ensure_ascii=False).replace("<", "\\u003c"),
            "state_json": state.model_dump_json().replace("<", "\\u003c"),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response
