"""The themes' word splitter as it was before the lexicon files: a ``jieba.Tokenizer`` holding
the whole dictionary with the domain words, and the IDF table as a dict. The reference the
mapped lexicon is held to (``tests/analytics/test_themes_lexicon.py``) and measured against
(``bench/themes_lexicon.py``)."""

from __future__ import annotations

import logging
from operator import itemgetter
from pathlib import Path
from typing import Any

from analytics.comments import themes


class Plain:
    """Keywords and tokens as ``themes._Splitter`` gives them, from the whole dictionary."""

    def __init__(self) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        for w in themes.DOMAIN_WORDS:
            self.tokenizer.add_word(w, freq=themes.DOMAIN_FREQ)
        self.idf: dict[str, float] = {}
        path = Path(jieba.__file__).parent / "analyse" / "idf.txt"
        for line in path.read_text(encoding="utf-8").splitlines():
            word, value = line.strip().split(" ")
            self.idf[word] = float(value)
        self.median_idf = sorted(self.idf.values())[len(self.idf) // 2]
        self.stop_words = themes._JIEBA_STOP_WORDS | themes.STOP_WORDS

    def over(self, _texts: Any) -> Plain:
        """In place of ``themes._splitter``: the same words for any batch of texts."""
        return self

    def keywords(self, text: str, top: int) -> list[tuple[str, float]]:
        freq: dict[str, float] = {}
        for w in self.tokenizer.cut(text):
            if len(w.strip()) < 2 or w.lower() in self.stop_words:
                continue
            freq[w] = freq.get(w, 0.0) + 1.0
        total = sum(freq.values())
        for k in freq:
            freq[k] *= self.idf.get(k, self.median_idf) / total
        return sorted(freq.items(), key=itemgetter(1), reverse=True)[:top]

    def tokens(self, text: str) -> set[str]:
        return {w.lower() for w in self.tokenizer.lcut(text) if w.strip()}
