"""Vote analytics over a counted voting result (``surveys.voting.service.count``'s dict).

Pure functions: how far each project was from the threshold, how the budget was used, and
how the session's rule compares with the Method of Equal Shares computed beside it.
"""

from __future__ import annotations

from typing import Any


def analyze(result: dict[str, Any]) -> dict[str, Any]:
    """Margins, budget use and rule comparison for one counted session."""
    if "threshold_votes" in result:
        return _selection(result)
    return _satisfaction(result)


def _selection(result: dict[str, Any]) -> dict[str, Any]:
    need = int(result["threshold_votes"])
    electorate = int(result["electorate"])
    cap = int(result["budget_cap"])
    used = int(result["budget_used"])
    projects = []
    for p in result["projects"]:
        margin = int(p["for"]) - need
        projects.append(
            {
                "project_id": p["project_id"],
                "title": p["title"],
                "title_en": p.get("title_en", ""),
                "for": p["for"],
                "against": p["against"],
                "abstain": p["abstain"],
                "budget": p["budget"],
                "passed": p["passed"],
                "selected": p["selected"],
                "reason": p["reason"],
                # Votes above (>= 0) or short of (< 0) the threshold. A passing project would
                # fail with margin + 1 fewer "for" votes; a failing one needs -margin more.
                "margin": margin,
                "margin_share_of_electorate": margin / electorate if electorate else None,
                "votes_to_flip": margin + 1 if margin >= 0 else -margin,
                "selected_equal_shares": p.get("selected_equal_shares"),
            }
        )
    closest = sorted(projects, key=lambda x: (x["votes_to_flip"], x["project_id"]))
    es = result.get("equal_shares") or {}
    default_set = {p["project_id"] for p in projects if p["selected"]}
    mes_set = set(es.get("selected") or [])
    both = default_set & mes_set
    union = default_set | mes_set
    passed_unfunded = [p for p in projects if p["passed"] and not p["selected"]]
    return {
        "kind": "selection",
        "threshold_votes": need,
        "electorate": electorate,
        "cast": result.get("cast"),
        "turnout": (result.get("cast") or 0) / electorate if electorate else None,
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
            "equal_shares_budget_used": es.get("budget_used"),
            "equal_shares_used_share": (es.get("budget_used") or 0) / cap if cap else None,
            "prefer_equal_shares": es.get("prefer_mes"),
            "prefer_greedy": es.get("prefer_greedy"),
            "note": "Equal Shares is computed for comparison only; the session's rule decides.",
        },
    }


def _satisfaction(result: dict[str, Any]) -> dict[str, Any]:
    electorate = int(result["electorate"])
    half = electorate // 2 + 1
    projects = []
    for p in result["projects"]:
        s, b = int(p["satisfied"]), int(p["basically_satisfied"])
        projects.append(
            {
                "project_id": p["project_id"],
                "title": p["title"],
                "title_en": p.get("title_en", ""),
                "grade": p["grade"],
                # Votes above (>= 0) or short of (< 0) each grade's line of more than half.
                "margin_satisfied": s - half,
                "margin_basically_satisfied": s + b - half,
                "dissatisfied_share": p["dissatisfied"] / electorate if electorate else None,
            }
        )
    return {
        "kind": "satisfaction",
        "electorate": electorate,
        "cast": result.get("cast"),
        "turnout": (result.get("cast") or 0) / electorate if electorate else None,
        "line_votes": half,
        "projects": projects,
    }
