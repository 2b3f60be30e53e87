"""The words of a democratic evaluation's results: labels from the configuration in the
reader's language, and each rule said in a sentence (zh-CN and English)."""

from __future__ import annotations

from collections.abc import Sequence

from analytics.evaluation.config import OVERALL, Config, Rule
from service.i18n import translate

PREFIX = "evr."


def t(lang: str, key: str, **params: object) -> str:
    """A message of analytics/locales/evaluation.json."""
    return translate(lang, PREFIX + key, **params)


def pick(lang: str, label: str, label_en: str) -> str:
    """The configuration's label in the language (English falls back to the Chinese)."""
    return (label_en or label) if lang == "en" else label


def grade_label(config: Config, key: str, lang: str) -> str:
    """A grade's label (or the key of a grade the scale does not know)."""
    try:
        g = config.grade(key)
    except KeyError:
        return key
    return pick(lang, g.label, g.label_en)


def item_label(config: Config, key: str, lang: str) -> str:
    """An item's label; the overall grade is 总体评价."""
    if key == OVERALL:
        return t(lang, "overall")
    for item in config.items:
        if item.key == key:
            return pick(lang, item.label, item.label_en)
    return key


def group_label(config: Config, members: Sequence[str], lang: str) -> str:
    """A published rater group's label: the group's, or the pooled groups' joined by +."""
    names = []
    for key in members:
        try:
            g = config.group(key)
            names.append(pick(lang, g.label, g.label_en))
        except KeyError:
            names.append(key)
    return " + ".join(names)


def rule_text(rule: Rule, config: Config, lang: str) -> str:
    """The rule in words, e.g. 总体评价中“优秀”“称职”合计占比低于 2/3（“不了解”不计入）."""
    grades = [grade_label(config, g, lang) for g in rule.grades]
    if lang == "en":
        joined = " + ".join(grades)
    else:
        joined = "".join(f"“{g}”" for g in grades) + ("合计" if len(grades) > 1 else "")
    if rule.item:
        scope = t(lang, "rule.scope_item", item=item_label(config, rule.item, lang))
    elif config.overall:
        scope = t(lang, "rule.scope_overall")
    else:
        scope = t(lang, "rule.scope_all")
    return t(
        lang,
        "rule.sentence",
        grades=joined,
        op=t(lang, f"rule.op.{rule.op}"),
        share=str(rule.share),
        scope=scope,
        unknown=pick(lang, config.unknown.label, config.unknown.label_en),
    )
