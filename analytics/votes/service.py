"""Vote analytics over a counted voting result (``surveys.voting.results.count``).

Pure functions: how far each project was from the threshold, how the budget was used, and
how the session's rule compares with the Method of Equal Shares computed beside it.
"""

from __future__ import annotations

from typing import Any

from surveys.voting.schemas import SatisfactionResult, SelectionResult, VoteResult


def analyze(result: VoteResult) -> dict[str, Any]:
    """Margins, budget use and rule comparison for one counted session."""
    if isinstance(result, SelectionResult):
        return _selection(result)
    return _satisfaction(result)


def _selection(result: SelectionResult) -> dict[str, Any]:
    need = result.threshold_votes
    electorate = result.electorate
    cap = result.budget_cap
    used = result.budget_used
    projects: list[dict[str, Any]] = []
    for p in result.projects:
        margin = p.votes_for - need
        projects.append(
            {
                "project_id": p.project_id,
                "title": p.title,
                "title_en": p.title_en,
                "for": p.votes_for,
                "against": p.against,
                "abstain": p.abstain,
                "budget": p.budget,
                "passed": p.passed,
                "selected": p.selected,
                "reason": p.reason,
                # Votes above (>= 0) or short of (< 0) the threshold. A passing project would
                # fail with margin + 1 fewer "for" votes; a failing one needs -margin more.
                "margin": margin,
                "margin_share_of_electorate": margin / electorate if electorate else None,
                "votes_to_flip": margin + 1 if margin >= 0 else -margin,
                "selected_equal_shares": p.selected_equal_shares,
            }
        )
    closest = sorted(projects, key=lambda x: (x["votes_to_flip"], x["project_id"]))
    es = result.equal_shares
    default_set = {p["project_id"] for p in projects if p["selected"]}
    mes_set = set(es.selected)
    both = default_set & mes_set
    union = default_set | mes_set
    passed_unfunded = [p for p in projects if p["passed"] and not p["selected"]]
    return {
        "kind": "selection",
        "threshold_votes": need,
        "electorate": electorate,
        "cast": result.cast,
        "turnout": result.cast / electorate if electorate else None,
        "projects": projects,
        "closest": [p["project_id"] for p in closest[:5]],
        "budget": {
            "cap": cap,
            "used": used,
            "left": cap - used,
            "used_share": used / cap if cap else None,
            "passed_not_funded": [p["project_id"] for p in passed_unfunded],
            "passed_not_funded_cost": sum(int(p["budget"]) for p in passed_unfunded),
        },
        "rules": {
            "default": sorted(default_set),
            "equal_shares": sorted(mes_set),
            "both": sorted(both),
            "only_default": sorted(default_set - mes_set),
            "only_equal_shares": sorted(mes_set - default_set),
            "agreement": len(both) / len(union) if union else 1.0,
            "equal_shares_budget_used": es.budget_used,
            "equal_shares_used_share": es.budget_used / cap if cap else None,
            "prefer_equal_shares": es.prefer_mes,
            "prefer_greedy": es.prefer_greedy,
            "note": "Equal Shares is computed for comparison only; the session's rule decides.",
        },
    }


def _satisfaction(result: SatisfactionResult) -> dict[str, Any]:
    electorate = result.electorate
    half = electorate // 2 + 1
    projects = []
    for p in result.projects:
        s, b = p.satisfied, p.basically_satisfied
        projects.append(
            {
                "project_id": p.project_id,
                "title": p.title,
                "title_en": p.title_en,
                "grade": p.grade,
                # Votes above (>= 0) or short of (< 0) each grade's line of more than half.
                "margin_satisfied": s - half,
                "margin_basically_satisfied": s + b - half,
                "dissatisfied_share": p.dissatisfied / electorate if electorate else None,
            }
        )
    return {
        "kind": "satisfaction",
        "electorate": electorate,
        "cast": result.cast,
        "turnout": result.cast / electorate if electorate else None,
        "line_votes": half,
        "projects": projects,
    }
