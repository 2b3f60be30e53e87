"""The announcement of a vote's result (票决结果公告): /voting-sessions/{id}/notice.

A printable A4 page in the official style, its text generated from the decided result
(``results.results``, with the run-off rounds): attendance and quorum, the vote's time, the
ballots, the selected projects with their votes and budgets, the rounds, the configuration's
hash, the issuing body and the date. Public once the vote is published; an admin previews it
once the vote is closed. A run-off round's notice is its first round's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.templating import render
from service.auth import OptionalUser
from service.db import SessionDep
from service.errors import Conflict, NotFound
from service.localtime import MINUTE, local_time
from surveys.voting import results, runoff, sessions
from surveys.voting.dependencies import valid_session_id
from surveys.voting.models import SessionKind, SessionState, VotingSession
from surveys.voting.schemas import RoundOut, SelectionResult
from surveys.voting.screen import zh_fraction

router = APIRouter(include_in_schema=False)


def _date(value: datetime | None, zone: str, en: bool) -> str:
    """A date as an announcement writes it: 2027年1月15日, or 15 January 2027."""
    text = local_time(value, zone, "%Y-%m-%d")
    if not text:
        return ""
    day = date.fromisoformat(text)
    return f"{day.day} {day:%B %Y}" if en else f"{day.year}年{day.month}月{day.day}日"


def _number(session: Session, vs: VotingSession) -> int:
    """The announcement's number: its place among the year's published first rounds (the
    next number while it is a preview)."""
    published = [
        s
        for s in sessions.list_sessions(session, states=[SessionState.published])
        if s.year == vs.year and s.runoff_of_id is None and s.id != vs.id
    ]
    if vs.published_at is None:
        return len(published) + 1
    return 1 + sum(1 for s in published if s.published_at and s.published_at < vs.published_at)


def _wan(yuan: int) -> str:
    """Yuan as 万元 with up to two decimals."""
    return f"{yuan / 10_000:,.2f}".rstrip("0").rstrip(".")


def _round_lines(
    session: Session, res: SelectionResult, titles: dict[int, str], lang: str, zone: str
) -> list[str]:
    """Each run-off round in a sentence: when, among whom, the votes, who was selected."""
    en = lang == "en"
    lines = []
    for k, rnd in enumerate(res.rounds, start=2):
        vs = session.get(VotingSession, rnd.session_id)
        when = local_time(vs.closed_at if vs else None, zone, MINUTE)
        sep = "; " if en else "；"
        counts = sep.join(
            translate(
                lang,
                "notice.round.count",
                name=titles.get(pid, str(pid)),
                n=_counts(rnd, pid)["for"],
                a=_counts(rnd, pid)["against"],
                b=_counts(rnd, pid)["abstain"],
            )
            for pid in rnd.project_ids
        )
        chosen = (", " if en else "、").join(titles.get(p, str(p)) for p in rnd.selected)
        lines.append(
            translate(
                lang,
                "notice.round",
                k=k,
                when=when,
                names=(", " if en else "、").join(titles.get(p, str(p)) for p in rnd.project_ids),
                places=rnd.places,
                counts=counts,
                selected=chosen or translate(lang, "notice.none"),
            )
        )
    return lines


def _counts(rnd: RoundOut, pid: int) -> dict[str, int]:
    return rnd.counts.get(str(pid), {"for": 0, "against": 0, "abstain": 0})


@router.get("/voting-sessions/{session_id}/notice", response_class=HTMLResponse)
def notice_page(
    request: Request, user: OptionalUser, session: SessionDep, session_id: int
) -> Response:
    """The announcement of the result (public once published; an admin's preview once closed)."""
    lang = request_language(request)
    try:
        vs = valid_session_id(session_id, session)
    except NotFound:
        msg = translate(lang, "vote.not_found")
        return render(request, "error.html", {"message": msg}, status_code=404)
    root = runoff.root_of(session, vs)
    if root.id != vs.id:
        return RedirectResponse(f"/voting-sessions/{root.id}/notice?lang={lang}", 303)
    try:
        res = results.results(session, vs=vs, user=user)
    except Conflict:
        ctx = {"vs": sessions.session_public(session, vs=vs), "reason": "notice.not_published"}
        return render(request, "vote_closed.html", ctx, status_code=409)
    ctx = _context(request, session, vs, res, lang)
    response = render(request, "notice.html", ctx)
    if ctx["preview"]:
        response.headers["Cache-Control"] = "no-store"  # never keep a draft announcement
    return response


def _context(
    request: Request, session: Session, vs: VotingSession, res: Any, lang: str
) -> dict[str, Any]:
    settings = request.app.state.settings
    zone: str = settings.time_zone
    en = lang == "en"
    congress = (settings.congress_name_en if en else settings.congress_name) or ""
    title = (vs.title_en if en and vs.title_en else vs.title) or vs.title
    titles = {p.project_id: (p.title_en if en and p.title_en else p.title) for p in res.projects}
    selection = isinstance(res, SelectionResult)
    chosen = [p for p in res.projects if selection and p.selected]
    method = "electronic"
    if res.ballots_paper:
        method = "mixed" if res.ballots_electronic else "paper"
    att = res.attendance
    present = res.present_at_close()
    return {
        "vs": vs,
        "res": res,
        "en": en,
        "selection": selection,
        "kind": SessionKind(vs.kind).value,
        "preview": vs.state != SessionState.published,
        "heading": congress or title,
        "congress": congress,
        "title": title,
        "number": _number(session, vs),
        "issuer": translate(lang, "notice.issuer", body=congress)
        if congress
        else translate(lang, "notice.issuer_default"),
        "date": _date(vs.published_at or vs.closed_at, zone, en),
        "opened": local_time(vs.opened_at, zone, MINUTE),
        "closed": local_time(vs.closed_at, zone, MINUTE),
        "method": method,
        "quorum_words": ((att.quorum or "") if en else zh_fraction(att.quorum)) if att else "",
        "present": present,
        "absent": max(res.electorate - present, 0),
        # 实到 at opening where late arrivals changed it (the quorum was counted then).
        "at_opening": att.present if att is not None and att.present != present else None,
        "chosen": chosen,
        "others": [p for p in res.projects if selection and not p.selected],
        "chosen_total": _wan(sum(p.budget for p in chosen)),
        "wan": _wan,
        "titles": titles,
        "rule": res.rule_en if en else res.rule,
        "round_lines": _round_lines(session, res, titles, lang, zone) if selection else [],
        "pending": selection and runoff.awaits_runoff(res),
        "ballots_url": str(request.base_url).rstrip("/") + f"/results/{vs.id}",
    }
