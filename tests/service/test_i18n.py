"""The message catalogs of every domain, merged into one by ``service.i18n``."""

from __future__ import annotations

import json

from analytics import figures
from service import i18n


def test_catalogs_of_every_domain_are_found() -> None:
    names = {(p.parent.parent.name, p.name) for p in i18n.catalog_files()}
    assert ("frontend", "base.json") in names
    assert ("analytics", "figures.json") in names
    assert ("analytics", "report.json") in names


def test_no_key_is_defined_twice_with_different_text() -> None:
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    clashes = []
    for path in i18n.catalog_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        for lang, messages in data.items():
            for key, text in messages.items():
                before = seen.setdefault((lang, key), (path.name, text))
                if before[1] != text:
                    clashes.append(f"{lang} {key}: {before[0]} vs {path.name}")
    assert clashes == []


def test_every_key_has_every_language() -> None:
    for path in i18n.catalog_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        assert set(data) == set(i18n.LANGUAGES), path.name
        keys = [set(data[lang]) for lang in i18n.LANGUAGES]
        missing = set.union(*keys) - set.intersection(*keys)
        assert missing == set(), f"{path.name}: {sorted(missing)}"
        for lang in i18n.LANGUAGES:
            assert all(isinstance(t, str) and t for t in data[lang].values()), (path.name, lang)


def test_translate_falls_back_to_zh_cn_then_to_the_key() -> None:
    assert i18n.translate("en", "fig.ranking") == "Reputation index ranking"
    assert i18n.translate("fr", "fig.ranking") == "口碑综合指数排名"
    assert i18n.translate("en", "no.such.key") == "no.such.key"
    assert i18n.translate("en", "fig.too_few", k=5).startswith(
        "Hidden to protect small groups (fewer than 5 respondents"
    )


def test_figure_labels_come_from_the_catalog() -> None:
    assert figures.label("en", "threshold", v=51) == "Pass line 51 votes"
    assert figures.label("zh-CN", "sex.female") == "女"
    # A key in no catalog reads as itself, as chart code has always relied on.
    assert figures.label("en", "status.unheard_of") == "status.unheard_of"
