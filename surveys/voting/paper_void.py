"""A vote the paper count voids: more ballots collected (收回) than issued (发出).

The count is kept as the scrutineers counted it, marked void; closing then counts nothing,
so no project passes or is selected and publishing returns the slate to the candidates.
"""

from __future__ import annotations

from surveys.voting.schemas import PaperOut, SatisfactionResult, SelectionResult

VOID_WORDS = "收回选票多于发出选票，表决无效"


def void_reason(*, issued: int, collected: int) -> str:
    """Why the vote is void, in words (zh-CN with English), or "" when it is not."""
    if collected <= issued:
        return ""
    return (
        f"{VOID_WORDS}：收回 {collected} 张，发出 {issued} 张 "
        f"(collected {collected} > issued {issued}: the vote is void)"
    )


def paper_void_reason(out: PaperOut | None) -> str:
    """The void reason of a kept paper count, or ""."""
    return "" if out is None else void_reason(issued=out.issued, collected=out.collected)


def void_result(
    result: SelectionResult | SatisfactionResult, reason: str
) -> SelectionResult | SatisfactionResult:
    """The result of a void vote: nothing passes, nothing is selected, whatever the rule."""
    update: dict[str, object] = {"void": True, "void_reason": reason}
    if isinstance(result, SelectionResult):
        rows = [
            r.model_copy(
                update={
                    "passed": False,
                    "rank": None,
                    "selected": False,
                    "selected_equal_shares": False,
                }
            )
            for r in result.projects
        ]
        es = result.equal_shares.model_copy(
            update={"selected": [], "budget_used": 0, "mes": [], "greedy": []}
        )
        update |= {"projects": rows, "budget_used": 0, "cut_tie": None, "equal_shares": es}
    else:
        # No counted ballot grades anything: "dissatisfied" would be a verdict on nothing.
        update["projects"] = [r.model_copy(update={"grade": None}) for r in result.projects]
    return result.model_copy(update=update)
