"""Results per subject of a democratic evaluation (民主测评): counts and shares per grade, per
item and per rater group, the weighted score with its interval, and the office's rules.

Input is one row per grade a rater gave (response, rater group, subject, item, grade), as the
evaluation tables hold them, and the campaign's configuration. 不了解 (the unknown grade) is
counted apart and left out of every base: shares, means and rules are over the known grades.

Small groups. A rater group's counts are shown only when at least ``k`` raters of it graded
the subject. Hiding a small group alone would not do: the total minus the groups shown gives
it back (and so would the weighted score, whose group weights are known). So the groups
under ``k`` are pooled; a pool of ``k`` or more is published as one group ("others"), and a
smaller pool joins the smallest group of ``k`` or more, which is then published only together
with it. Every number published (counts, shares, means, the score and its interval, the rules)
is computed from those published groups alone, so no difference of them isolates fewer than
``k`` raters; when all the raters together are fewer than ``k``, nothing is published.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from analytics.evaluation import interval as score_interval
from analytics.evaluation.config import OVERALL, Config, Group, Rule


class GradeRow(NamedTuple):
    """One grade of one rater's sheet (the fields of ``surveys.evaluation.service.GradeRow``)."""

    rater_group: str
    subject_id: int
    item: str
    grade: str
    # The rater's sheet, so that an interval resamples raters rather than single grades.
    response_id: int


@dataclass
class Counts:
    """The grades given to one item: a count per grade key, 不了解 (``unknown_key``) included."""

    counts: dict[str, int]
    unknown_key: str

    @property
    def unknown(self) -> int:
        """How many said 不了解."""
        return self.counts.get(self.unknown_key, 0)

    @property
    def known(self) -> int:
        """How many gave a grade of the scale: the base of every share and mean."""
        return sum(self.counts.values()) - self.unknown

    def shares(self) -> dict[str, Fraction]:
        """Each known grade's share of the known grades (不了解 out of the base)."""
        known = self.known
        if known == 0:
            return {}
        return {g: Fraction(c, known) for g, c in self.counts.items() if g != self.unknown_key}

    def share_of(self, grades: Iterable[str]) -> Fraction | None:
        """The share of some grades among the known ones (None when nothing is known)."""
        if self.known == 0:
            return None
        wanted = set(grades) - {self.unknown_key}
        return Fraction(sum(self.counts.get(g, 0) for g in wanted), self.known)

    def mean_points(self, points: Mapping[str, float]) -> float | None:
        """The mean points of the known grades."""
        if self.known == 0:
            return None
        return sum(points[g] * c for g, c in self.counts.items() if g in points) / self.known


def count(grades: Iterable[str], config: Config) -> Counts:
    """Counts of a list of grade keys under the configuration's scale (others are ignored)."""
    tally = dict.fromkeys(config.grade_keys, 0)
    for g in grades:
        if g in tally:
            tally[g] += 1
    return Counts(tally, config.unknown.key)


@dataclass
class GroupResult:
    """A published rater group: one configured group, or several pooled (``groups``)."""

    key: str
    groups: tuple[str, ...]
    n: int
    weight: float
    weight_share: float
    items: dict[str, Counts]
    item_points: dict[str, float | None]
    mean_points: float | None


@dataclass
class RuleResult:
    rule: Rule
    share: Fraction | None
    flagged: bool | None


@dataclass
class SubjectResult:
    subject_id: int
    k: int
    suppressed: bool
    n: int | None
    groups: list[GroupResult] = field(default_factory=list)
    # Configured groups no rater of which graded the subject (their weight is shared out).
    absent: tuple[str, ...] = ()
    # True when some group under k had to be pooled with another.
    pooled: bool = False
    totals: dict[str, Counts] = field(default_factory=dict)
    total_points: dict[str, float | None] = field(default_factory=dict)
    score: float | None = None
    score_low: float | None = None
    score_high: float | None = None
    # The score's bootstrap standard error, from the draws its interval is made of.
    score_se: float | None = None
    rules: list[RuleResult] = field(default_factory=list)


def publishable_groups(
    sizes: Mapping[str, int], order: Sequence[str], k: int
) -> list[tuple[str, ...]] | None:
    """The rater groups to publish, each a tuple of configured groups (one, or a pool).

    Groups of ``k`` or more raters stand alone; the groups under ``k`` are pooled; a pool of
    ``k`` or more stands as one group, a smaller one joins the smallest group of ``k`` or more
    (ties: the first in the configuration). None when all the raters are fewer than ``k``.
    """
    present = [g for g in order if sizes.get(g, 0) > 0]
    if sum(sizes[g] for g in present) < k:
        return None
    big = [g for g in present if sizes[g] >= k]
    small = [g for g in present if sizes[g] < k]
    out: list[tuple[str, ...]] = [(g,) for g in big]
    if not small:
        return out
    if sum(sizes[g] for g in small) >= k:
        return out + [tuple(small)]
    smallest = min(big, key=lambda g: (sizes[g], order.index(g)))
    host = tuple(g for g in order if g == smallest or g in small)
    return [host if grp == (smallest,) else grp for grp in out]


def _group_order(config: Config, rows: Sequence[GradeRow]) -> list[str]:
    """Configured groups in order, then any group the data names that the scheme does not."""
    order = [g.key for g in config.groups]
    for r in rows:
        if r.rater_group not in order:
            order.append(r.rater_group)
    return order


def _group_of(config: Config, key: str) -> Group:
    try:
        return config.group(key)
    except KeyError:
        # A sheet of a group the scheme does not weigh counts in the shares, not the score.
        return Group(key, key, key, 0.0)


def _points_matrix(sheets: Mapping[int, Mapping[str, str]], config: Config) -> np.ndarray:
    """A row per rater, a column per scored item: the points of the grade, NaN if unknown."""
    points = config.points
    items = [i.key for i in config.scored_items]
    out = np.full((len(sheets), len(items)), np.nan)
    for row, sheet in enumerate(sheets.values()):
        for col, item in enumerate(items):
            grade = sheet.get(item)
            if grade in points:
                out[row, col] = points[grade]
    return out


def subject_result(
    rows: Sequence[GradeRow],
    config: Config,
    *,
    subject_id: int,
    k: int,
    seed: int,
    draws: int = score_interval.DRAWS,
) -> SubjectResult:
    """Everything published about one subject, from that subject's grades."""
    order = _group_order(config, rows)
    # Each rater's sheet for this subject: item -> grade, grouped by rater group.
    sheets: dict[str, dict[int, dict[str, str]]] = defaultdict(dict)
    for r in rows:
        sheets[r.rater_group].setdefault(r.response_id, {})[r.item] = r.grade
    sizes = {g: len(sheets.get(g, {})) for g in order}
    plan = publishable_groups(sizes, order, k)
    absent = tuple(g.key for g in config.groups if sizes.get(g.key, 0) == 0)
    if plan is None:
        return SubjectResult(subject_id, k, suppressed=True, n=None, absent=absent)
    items = [i.key for i in config.graded_items]
    points = config.points
    item_weights = [i.weight for i in config.scored_items]
    weights = {g: _group_of(config, g).weight for g in order}
    published: list[GroupResult] = []
    strata: list[score_interval.Stratum] = []
    for members in plan:
        merged = {rid: sheet for g in members for rid, sheet in sheets[g].items()}
        per_item = {i: count((s[i] for s in merged.values() if i in s), config) for i in items}
        item_points = {i: c.mean_points(points) for i, c in per_item.items()}
        matrix = _points_matrix(merged, config)
        weight = sum(weights[g] for g in members)
        strata.append(score_interval.Stratum(matrix, weight))
        published.append(
            GroupResult(
                key="+".join(members),
                groups=members,
                n=len(merged),
                weight=weight,
                weight_share=0.0,
                items=per_item,
                item_points=item_points,
                mean_points=score_interval.score(
                    [score_interval.Stratum(matrix, 1.0)], item_weights
                ),
            )
        )
    scored_weight = sum(g.weight for g in published if g.mean_points is not None)
    for g in published:
        if g.mean_points is not None and scored_weight > 0:
            g.weight_share = g.weight / scored_weight
    all_grades: dict[str, list[str]] = defaultdict(list)
    for members in plan:
        for sheet in (s for grp in members for s in sheets[grp].values()):
            for item, grade in sheet.items():
                all_grades[item].append(grade)
    totals = {i: count(all_grades.get(i, []), config) for i in items}
    result = SubjectResult(
        subject_id,
        k,
        suppressed=False,
        n=sum(g.n for g in published),
        groups=published,
        absent=absent,
        pooled=any(len(m) > 1 for m in plan),
        totals=totals,
        total_points={i: c.mean_points(points) for i, c in totals.items()},
    )
    result.score = score_interval.score(strata, item_weights)
    found = score_interval.measured(strata, item_weights, seed=seed, draws=draws)
    if found is not None and result.score is not None:
        bounds, result.score_se = found
        # No score lies outside the scale's points.
        top, bottom = max(points.values()), min(points.values())
        result.score_low = min(max(bounds[0], bottom), top)
        result.score_high = min(max(bounds[1], bottom), top)
    result.rules = [evaluate_rule(rule, totals, config) for rule in config.rules]
    return result


def rule_counts(rule: Rule, totals: Mapping[str, Counts], config: Config) -> Counts:
    """The grades a rule counts: its item's, else the overall grades, else (a scheme with no
    overall grade) every item's grades together."""
    if rule.item:
        return totals.get(rule.item) or count((), config)
    if config.overall:
        return totals.get(OVERALL) or count((), config)
    pooled: list[str] = []
    for item in config.items:
        c = totals.get(item.key)
        if c is not None:
            for g, n in c.counts.items():
                pooled.extend([g] * n)
    return count(pooled, config)


def evaluate_rule(rule: Rule, totals: Mapping[str, Counts], config: Config) -> RuleResult:
    """The rule's share (exact) among all raters' known grades, and whether it is flagged."""
    share = rule_counts(rule, totals, config).share_of(rule.grades)
    return RuleResult(rule, share, None if share is None else rule.holds(share))


def by_subject(rows: Iterable[GradeRow]) -> dict[int, list[GradeRow]]:
    """The rows of each subject."""
    out: dict[int, list[GradeRow]] = defaultdict(list)
    for r in rows:
        out[r.subject_id].append(r)
    return out


def campaign_results(
    rows: Iterable[GradeRow],
    config: Config,
    *,
    subject_ids: Sequence[int],
    k: int,
    campaign_id: int,
    draws: int = score_interval.DRAWS,
) -> list[SubjectResult]:
    """The results of each subject of a campaign, in the order given."""
    grouped = by_subject(rows)
    return [
        subject_result(
            grouped.get(sid, []),
            config,
            subject_id=sid,
            k=k,
            seed=score_interval.seed_for("evaluation", campaign_id, sid),
            draws=draws,
        )
        for sid in subject_ids
    ]
