"""The configuration of a democratic evaluation: rater groups and their weights, the grade scale
and its points, the items graded, and the rules that act on shares of grades.

Field checks are pydantic's (so a 422 names the field); the checks across fields (keys unique,
rules naming grades and items that exist) are ``problems``, which names the field too.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from surveys.voting.rules import config_hash

KEY = r"^[a-z][a-z0-9_]{0,31}$"
OVERALL = "overall"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY)
    label: str = Field(min_length=1, max_length=64)
    label_en: str = Field(default="", max_length=64)


class ScaleGrade(_Part):
    points: float = Field(ge=0, le=1000)


class UnknownGrade(_Part):
    key: str = Field(default="unknown", pattern=KEY)
    label: str = Field(default="不了解", min_length=1, max_length=64)
    label_en: str = Field(default="Don't know", max_length=64)


class Item(_Part):
    weight: float = Field(default=1, gt=0, le=1000)


class RaterGroup(_Part):
    weight: float = Field(gt=0, le=1000)


class RuleWhen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grades: list[str] = Field(min_length=1, max_length=10)
    op: Literal["lt", "le", "gt", "ge"]
    # An exact fraction ("2/3", "0.5", "1/3"): compared as a Fraction, never as a float.
    share: str = Field(min_length=1, max_length=16)
    # The item whose grades are counted; the overall grade when absent.
    item: str | None = None

    @field_validator("share")
    @classmethod
    def _fraction(cls, v: str) -> str:
        try:
            f = Fraction(v.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError("a fraction such as 2/3 or 0.5") from None
        if not 0 <= f <= 1:
            raise ValueError("between 0 and 1")
        return v.strip()

    def fraction(self) -> Fraction:
        return Fraction(self.share)


class Rule(_Part):
    when: RuleWhen


class EvaluationConfig(BaseModel):
    """What a democratic evaluation asks and how its grades count."""

    model_config = ConfigDict(extra="forbid")

    scale: list[ScaleGrade] = Field(min_length=2, max_length=10)
    unknown: UnknownGrade = Field(default_factory=UnknownGrade)
    items: list[Item] = Field(default_factory=list, max_length=20)
    # An overall grade per subject (总体评价) besides the items.
    overall: bool = True
    groups: list[RaterGroup] = Field(min_length=1, max_length=12)
    rules: list[Rule] = Field(default_factory=list, max_length=20)

    def questions(self) -> list[str]:
        """What a rater grades for each subject: the items, then the overall grade."""
        return [i.key for i in self.items] + ([OVERALL] if self.overall else [])

    def grade_keys(self) -> list[str]:
        """Every answer a rater may give, 不了解 last."""
        return [g.key for g in self.scale] + [self.unknown.key]

    def group(self, key: str) -> RaterGroup | None:
        return next((g for g in self.groups if g.key == key), None)


DEFAULT_CONFIG: dict[str, Any] = {
    "scale": [
        {"key": "excellent", "label": "优秀", "label_en": "Excellent", "points": 100},
        {"key": "competent", "label": "称职", "label_en": "Competent", "points": 80},
        {"key": "basic", "label": "基本称职", "label_en": "Basically competent", "points": 60},
        {"key": "incompetent", "label": "不称职", "label_en": "Incompetent", "points": 0},
    ],
    "unknown": {"key": "unknown", "label": "不了解", "label_en": "Don't know"},
    "items": [
        {"key": "de", "label": "德", "label_en": "Integrity", "weight": 1},
        {"key": "neng", "label": "能", "label_en": "Ability", "weight": 1},
        {"key": "qin", "label": "勤", "label_en": "Diligence", "weight": 1},
        {"key": "ji", "label": "绩", "label_en": "Results", "weight": 1},
        {"key": "lian", "label": "廉", "label_en": "Probity", "weight": 1},
    ],
    "overall": True,
    "groups": [
        {"key": "members", "label": "班子成员", "label_en": "Team members", "weight": 30},
        {"key": "staff", "label": "干部职工", "label_en": "Staff", "weight": 30},
        {"key": "served", "label": "服务对象", "label_en": "People served", "weight": 40},
    ],
    "rules": [
        {
            "key": "talk",
            "when": {"grades": ["excellent", "competent"], "op": "lt", "share": "2/3"},
            "label": "诫勉谈话",
            "label_en": "Warning talk",
        },
        {
            "key": "adjust",
            "when": {"grades": ["incompetent"], "op": "gt", "share": "1/3"},
            "label": "组织调整",
            "label_en": "Adjustment",
        },
    ],
}


def default_config() -> EvaluationConfig:
    """The four-grade scale, 德能勤绩廉 and three rater groups."""
    return EvaluationConfig.model_validate(DEFAULT_CONFIG)


def _duplicates(keys: list[str]) -> list[int]:
    seen: set[str] = set()
    out = []
    for i, k in enumerate(keys):
        if k in seen:
            out.append(i)
        seen.add(k)
    return out


def problems(cfg: EvaluationConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks across fields, each as (location inside the configuration, reason)."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    for part in ("scale", "items", "groups", "rules"):
        for i in _duplicates([p.key for p in getattr(cfg, part)]):
            out.append(((part, i, "key"), "key used twice"))
    grades = {g.key for g in cfg.scale}
    if cfg.unknown.key in grades:
        out.append((("unknown", "key"), "also a grade of the scale"))
    for i, item in enumerate(cfg.items):
        if item.key == OVERALL:
            out.append((("items", i, "key"), f"'{OVERALL}' is the overall grade's name"))
    if not cfg.questions():
        out.append((("items",), "give items or set overall"))
    for i, rule in enumerate(cfg.rules):
        for j, g in enumerate(rule.when.grades):
            if g not in grades:
                out.append(
                    (("rules", i, "when", "grades", j), f"'{g}' is not a grade of the scale")
                )
        named = rule.when.item
        if named is None and not cfg.overall:
            out.append((("rules", i, "when", "item"), "name an item: there is no overall grade"))
        elif named is not None and named not in cfg.questions():
            out.append((("rules", i, "when", "item"), f"'{named}' is not an item"))
    return out


def frozen_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the configuration's canonical JSON, as voting sessions hash theirs."""
    return config_hash(config)
