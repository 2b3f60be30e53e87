"""The weights a subject's score actually used, said in words beside the configured ones.

Two things move a rater group's weight away from the scheme's, and a reader of the score
should be told both (both are computed in ``results.py``):

- **Pooling.** Groups under k are published pooled with another group; the pool counts with
  the sum of its groups' configured weights, but inside it every rater counts alike, so a
  group's part of the pool follows its number of raters. Four team members all 优秀 beside
  40 staff and 40 served all 基本称职 score 72.0 with their own 30%, 62.2 pooled. Giving each
  pooled group its configured weight inside the pool would let a reader solve for the small
  group, so the pooling stays and the note says what it does.
- **Absence.** A configured group with no rater drops out and its weight is shared out among
  the others in proportion (normalising over the groups with raters).

The note names groups and configured weights only, never a group's size inside a pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analytics.evaluation.words import t

Labels = Mapping[str, tuple[str, str, float]]


def percent(share: float) -> str:
    """A share as a percentage, with a decimal only when it has one (30%, 33.3%)."""
    text = f"{100 * share:.1f}".removesuffix(".0")
    return f"{text}%"


def _label(labels: Labels, key: str, lang: str) -> str:
    label, label_en, _ = labels.get(key, (key, key, 0.0))
    return (label_en or label) if lang == "en" else label


def _configured(labels: Labels, keys: Sequence[str], total: float, lang: str) -> str:
    """ "班子成员 30% + 干部职工 30% = 60%": each group's configured share and their sum."""
    if len(keys) == 1:
        return percent(_share(labels, keys[0], total))
    parts = [f"{_label(labels, g, lang)} {percent(_share(labels, g, total))}" for g in keys]
    return " + ".join(parts) + f" = {percent(sum(_share(labels, g, total) for g in keys))}"


def _share(labels: Labels, key: str, total: float) -> float:
    return labels.get(key, ("", "", 0.0))[2] / total if total > 0 else 0.0


def _names(labels: Labels, keys: Sequence[str], lang: str) -> str:
    if lang == "en":
        return " + ".join(_label(labels, g, lang) for g in keys)
    return "、".join(f"“{_label(labels, g, lang)}”" for g in keys)


def notes(
    groups: Sequence[tuple[Sequence[str], float]],
    absent: Sequence[str],
    labels: Labels,
    k: int,
) -> list[dict[str, Any]]:
    """A note per pool holding a weighted group, and one for the weighted absent groups.

    ``groups``: each published group's configured groups and its share of the score;
    ``labels``: each configured group's label, English label and configured weight.
    """
    total = sum(w for _, _, w in labels.values())
    out: list[dict[str, Any]] = []
    for members, effective in groups:
        if len(members) < 2 or sum(_share(labels, g, total) for g in members) <= 0:
            continue
        words = {
            lang: t(
                lang,
                "weights.pooled",
                pool=_names(labels, members, lang),
                k=k,
                configured=_configured(labels, members, total, lang),
                effective=percent(effective),
            )
            for lang in ("zh-CN", "en")
        }
        out.append(
            {
                "kind": "pooled",
                "groups": list(members),
                "configured_share": sum(_share(labels, g, total) for g in members),
                "effective_share": effective,
                "text": words["zh-CN"],
                "text_en": words["en"],
            }
        )
    weighted = [g for g in absent if _share(labels, g, total) > 0]
    if weighted:
        words = {
            lang: t(
                lang,
                "weights.absent",
                groups=_names(labels, weighted, lang),
                configured=_configured(labels, weighted, total, lang),
            )
            for lang in ("zh-CN", "en")
        }
        out.append(
            {
                "kind": "absent",
                "groups": weighted,
                "configured_share": sum(_share(labels, g, total) for g in weighted),
                "effective_share": 0.0,
                "text": words["zh-CN"],
                "text_en": words["en"],
            }
        )
    return out
