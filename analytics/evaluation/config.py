"""A democratic evaluation's configuration (scale, items, rater groups, rules), read from the
campaign's frozen JSON into typed, immutable values the computation works on.

The JSON is the campaign's own (``campaign.evaluation``, hashed when the campaign opens); this
module only reads it. Rule thresholds are exact fractions, so "exactly two thirds" compares
equal to 2/3 and not to 0.6666...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

OVERALL = "overall"
# The comparisons a rule may make of a share with its threshold.
OPS = ("lt", "le", "gt", "ge")


@dataclass(frozen=True)
class Grade:
    key: str
    label: str
    label_en: str
    points: float


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    label_en: str
    weight: float


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    label_en: str
    weight: float


@dataclass(frozen=True)
class Rule:
    """A flag raised when the share of some grades among the known grades crosses a fraction."""

    key: str
    grades: tuple[str, ...]
    op: str
    share: Fraction
    # The item whose grades count: the overall grade (总体评价) unless the rule names one.
    item: str | None
    label: str
    label_en: str

    def holds(self, share: Fraction) -> bool:
        """Whether a share meets the rule's condition, compared exactly."""
        if self.op == "lt":
            return share < self.share
        if self.op == "le":
            return share <= self.share
        if self.op == "gt":
            return share > self.share
        return share >= self.share


@dataclass(frozen=True)
class Config:
    scale: tuple[Grade, ...]
    unknown: Grade
    items: tuple[Item, ...]
    overall: bool
    groups: tuple[Group, ...]
    rules: tuple[Rule, ...]

    @property
    def grade_keys(self) -> tuple[str, ...]:
        """The scale's keys, best first, then the unknown grade's."""
        return tuple(g.key for g in self.scale) + (self.unknown.key,)

    @property
    def points(self) -> dict[str, float]:
        """Points per known grade."""
        return {g.key: g.points for g in self.scale}

    @property
    def graded_items(self) -> tuple[Item, ...]:
        """Every item a rater grades: the overall grade first (when asked), then the items."""
        head = (Item(OVERALL, "总体评价", "Overall", 1.0),) if self.overall else ()
        return head + self.items

    @property
    def scored_items(self) -> tuple[Item, ...]:
        """The items the score is made of: the configured items with their weights, or the
        overall grade alone when the office grades nothing else."""
        if self.items:
            return self.items
        return (Item(OVERALL, "总体评价", "Overall", 1.0),)

    def grade(self, key: str) -> Grade:
        """The scale's grade (or the unknown grade) of a key."""
        for g in (*self.scale, self.unknown):
            if g.key == key:
                return g
        raise KeyError(key)

    def group(self, key: str) -> Group:
        """The rater group of a key."""
        for g in self.groups:
            if g.key == key:
                return g
        raise KeyError(key)


def _text(entry: Mapping[str, Any], key: str) -> tuple[str, str]:
    label = str(entry.get("label") or key)
    return label, str(entry.get("label_en") or label)


def fraction(value: object) -> Fraction:
    """An exact fraction from "2/3", "0.5", 0.5 or 1 (floats through their decimal text)."""
    if isinstance(value, bool):
        raise ValueError("a share is a number, not a boolean")
    if isinstance(value, float):
        return Fraction(str(value))
    if isinstance(value, int | str | Fraction):
        return Fraction(value)
    raise ValueError(f"not a share: {value!r}")


def _rule(entry: Mapping[str, Any]) -> Rule:
    when = entry.get("when") or {}
    op = str(when.get("op", "lt"))
    if op not in OPS:
        raise ValueError(f"rule {entry.get('key')!r}: unknown op {op!r}")
    key = str(entry["key"])
    label, label_en = _text(entry, key)
    item = entry.get("item") or when.get("item")
    return Rule(
        key=key,
        grades=tuple(str(g) for g in when.get("grades", ())),
        op=op,
        share=fraction(when.get("share", 0)),
        item=str(item) if item else None,
        label=label,
        label_en=label_en,
    )


def _items(entries: Sequence[Mapping[str, Any]]) -> tuple[Item, ...]:
    out = []
    for e in entries:
        key = str(e["key"])
        out.append(Item(key, *_text(e, key), float(e.get("weight", 1))))
    return tuple(out)


def parse(data: Mapping[str, Any]) -> Config:
    """The typed configuration of a campaign's evaluation JSON."""
    scale = tuple(
        Grade(str(e["key"]), *_text(e, str(e["key"])), float(e["points"])) for e in data["scale"]
    )
    unknown_entry = data.get("unknown") or {"key": "unknown", "label": "不了解"}
    unknown_key = str(unknown_entry.get("key", "unknown"))
    groups = tuple(
        Group(str(e["key"]), *_text(e, str(e["key"])), float(e.get("weight", 1)))
        for e in data.get("groups", ())
    )
    return Config(
        scale=scale,
        unknown=Grade(unknown_key, *_text(unknown_entry, unknown_key), float("nan")),
        items=_items(data.get("items", ())),
        overall=bool(data.get("overall", True)),
        groups=groups,
        rules=tuple(_rule(e) for e in data.get("rules", ())),
    )
