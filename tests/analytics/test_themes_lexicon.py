"""The themes' mapped lexicon cuts and weighs words exactly as jieba's whole dictionary does."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import pytest

from analytics.comments import lexicon, themes
from tests.plain_splitter import Plain
from tests.synthetic import NEGATIVE, POSITIVE

HANDMADE = [
    "",
    "，。！？",
    "街道办居委会村委会业委会",  # domain words back to back
    "最多跑一次，跑一次就好；跑一",
    "政务大厅的政务服务，政务",  # a domain word's prefixes alone
    "打了12345热线，又打12345，1234也打了",
    "加装电梯、加装电、老旧小区的停车难",
    "APP闪退，wifi不好用，WiFi密码是abc123，iPhone15Pro",
    "C++和C#都不会，3.14%的人说a-b_c&d",
    "ＡＢＣ全角１２３，半角ABC123",
    "张三丰在翻斗花园遇到了胡图图和牛爷爷",  # names the dictionary does not know
    "侵华日军南京大屠杀遇难同胞纪念馆外交部驻香港特别行政区特派员公署",  # 16 characters
    "γ射线与β粒子",
    "鿏鿐鿑这些字不在jieba的范围里",  # past \u9fd5
    "👍👍好评！！😡差评",
    "行\t间\n有\r\n空白   和　全角空格",
    "辦事效率很低，服務態度差，繁體字",
    "的的的的的的的的的的",
    "一二三四五六七八九十百千万亿",
    "八千一百三十七万七千二百三十六口人",
    "The staff were helpful and quick. Nobody answered.",
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "小区垃圾分类做得好，物业费却涨了，网格员天天来",
    "养老服务和老年食堂办得不错，低保和户籍办理还要排队",
    "不动产登记跑了三趟，营商环境有待提高，公积金提取很快",
]


def varied_texts(n: int = 300, seed: int = 3) -> list[str]:
    """Handmade texts, the synthetic comments and seeded mixes of their pieces with domain
    words, unknown characters, digits, Latin letters, punctuation and white space."""
    rng = random.Random(seed)
    sources = HANDMADE + POSITIVE + NEGATIVE
    chars = "".join(sources)
    pieces: list[Any] = [
        lambda: rng.choice(themes.DOMAIN_WORDS),
        lambda: rng.choice(sources),
        lambda: "".join(rng.choice(chars) for _ in range(rng.randint(1, 8))),
        lambda: "".join(chr(rng.randint(0x4E00, 0x9FD5)) for _ in range(rng.randint(1, 6))),
        lambda: str(rng.randint(0, 10 ** rng.randint(1, 8))),
        lambda: "".join(rng.choice("abcXYZ+#&._%-") for _ in range(rng.randint(1, 5))),
        lambda: rng.choice(["，", "。", "！", " ", "\n", "、", "...", "——", "(", ")", "\t"]),
    ]
    out = list(sources)
    while len(out) < n:
        out.append("".join(rng.choice(pieces)() for _ in range(rng.randint(1, 12))))
    return out


@pytest.fixture(scope="module")
def plain() -> Plain:
    return Plain()


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> lexicon.Lexicon:
    where = tmp_path_factory.mktemp("lexicon") / "built"
    lexicon.build(where, themes.DOMAIN_WORDS, themes.DOMAIN_FREQ)
    return lexicon.Lexicon(where)


def splitter(mapped: lexicon.Lexicon) -> themes._Splitter:
    out = themes._Splitter.__new__(themes._Splitter)
    out.lexicon = mapped
    out.stop_words = themes._JIEBA_STOP_WORDS | themes.STOP_WORDS
    return out


def test_same_words_and_keywords_as_the_whole_dictionary(
    plain: Plain, mapped: lexicon.Lexicon
) -> None:
    texts = varied_texts()
    split = splitter(mapped)
    batch = split.over(texts)
    ref = plain.tokenizer
    whole: Any = plain  # in place of the splitter's words: the same methods
    for text in texts:
        alone = split.over([text])
        for words in (batch, alone):
            tok = words.tokenizer
            assert tok.lcut(text) == ref.lcut(text), text
            assert tok.lcut(text, HMM=False) == ref.lcut(text, HMM=False), text
            assert words.tokens(text) == plain.tokens(text), text
            assert themes._keywords(words, text, 20) == themes._keywords(whole, text, 20), text
    joined = "\n".join(texts)
    assert themes._keywords(batch, joined, 60) == themes._keywords(whole, joined, 60)
    # What the tokenizer was given is the whole dictionary's, word for word.
    small = batch.tokenizer.FREQ
    assert small and all(ref.FREQ[w] == f for w, f in small.items())
    assert batch.tokenizer.total == ref.total
    assert mapped.median_idf == plain.median_idf
    # And its keys are few: the texts' own fragments, not the dictionary's half million.
    assert len(small) < 20_000 < len(ref.FREQ)


def test_theme_rows_are_the_same(
    plain: Plain, mapped: lexicon.Lexicon, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = varied_texts()
    comments: list[tuple[str, str | None]] = [
        (t, "negative" if i % 3 else "positive") for i, t in enumerate(texts)
    ]

    monkeypatch.setattr(themes, "_splitter", splitter(mapped))
    got = themes.theme_rows(comments, top=15)
    monkeypatch.setattr(themes, "_splitter", plain)
    assert got and got == themes.theme_rows(comments, top=15)


def test_built_once_by_concurrent_openers_and_again_for_new_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINYI_ANALYTICS_DIR", str(tmp_path))
    builds: list[Path] = []
    real = lexicon._build_apart

    def counted(where: Path, *a: Any) -> None:
        builds.append(where)
        real(where, *a)

    monkeypatch.setattr(lexicon, "_build_apart", counted)
    opened: list[lexicon.Lexicon] = []
    threads = [
        threading.Thread(target=lambda: opened.append(lexicon.open_lexicon(["街道办"], 20000)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(opened) == 2
    assert opened[0].directory == opened[1].directory == builds[0]
    assert builds[0].parent == tmp_path / "lexicon"
    # Other domain words: other files, and the earlier build removed.
    other = lexicon.open_lexicon(["街道办", "居委会"], 20000)
    assert len(builds) == 2 and other.directory != builds[0]
    assert sorted(p.name for p in (tmp_path / "lexicon").iterdir()) == sorted(
        ["lock", other.directory.name]
    )
    tok = other.tokenizer(["居委会和街道办"])
    assert tok.lcut("居委会和街道办") == ["居委会", "和", "街道办"]
