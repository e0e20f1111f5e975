"""Comments as words: language, tokens, terms and the folded (accent-free) form, in Vietnamese and English.

- **Language**: the event's own tag (``vi-VN`` -> ``vi``), else py3langid's packaged model limited to
  the languages the index knows (:data:`LANGUAGES`). Nothing is downloaded: the model is a file of
  the py3langid wheel.
- **Vietnamese words** come from underthesea's CRF word segmenter (``ws_crf_vlsp2013``, shipped in
  the underthesea wheel), so "nhân viên" and "giao hàng" are one word each, with or without
  diacritics ("nhan vien" is one word too). English and other languages: letters-only tokens.
- **Terms** of a comment: its words and two-word phrases ("giao hàng chậm" = "giao hàng" + "chậm"),
  lower-case NFC, without stop words (negations such as "không", "chưa", "not" are kept: they carry
  the complaint), counted once per comment. Redaction markers ("[phone]") are clause breaks, never terms.
- **Folded** text: lower-case without diacritics ("Giao hàng CHẬM" -> "giao hang cham"), what an
  accent-insensitive search compares (``schemas.redaction.fold``, one character per character).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from schemas.redaction import fold

LANGUAGES: Final = ("vi", "en")
"""Languages the detector may answer; other tagged languages are tokenised like English."""
VI_STOP: Final = frozenset("""
và là của thì mà với cho các những này đó kia ấy ở tại tôi mình em anh chị bạn ạ nhé nha nhá ơi
rồi cũng đã đang sẽ vẫn có một hai rất quá lắm thật khá hơi nữa luôn lại ra vào lên xuống thế như
nên vì nếu khi lúc để bị do từ đến về theo cái con người chỗ hết mọi ai gì nào sao vậy đây họ nó
chúng tôi ta bằng
""".split())
EN_STOP: Final = frozenset("""
a an the and or but if of to in on at by for with from as is are was were be been being it its this
that these those i me my we our you your he she they them their there here so very too really just
had has have do does did will would can could should am pm me again also than then when what which
who whom how all any some much many more most out up down over after before about into
""".split())
VI_STOP_FOLDED: Final = frozenset(fold(w) for w in VI_STOP) - {"cho", "ban", "hai", "ve", "tai", "ma", "con"}
"""Stop words typed without diacritics ("qua" for "quá"), less those that would also fold away a
word that matters ("cho" is also "chờ", wait; "hai" also "hài" of "hài lòng"; "ban" also "bẩn")."""
KEPT: Final = frozenset({"không", "chưa", "chẳng", "đừng", "not", "no", "never", "nothing", "nobody"})
"""Negations: never stop words, whatever a list says."""
_MARKER = re.compile(r"\[(?:email|phone|card|national_id|account|customer)\]")
_LETTERS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_BREAK = re.compile("[.,;:!?()\\[\\]{}\"\u2026\n\\-\u2013\u2014/]+")  # ... and the dashes


@dataclass(frozen=True)
class Analysed:
    """One comment as the index keeps it (``comment_docs``)."""

    language: str
    terms: tuple[str, ...]
    """Distinct words and two-word phrases, in order of first appearance."""
    words: str
    """Every word (stop words included), lower-case NFC, one space between (search)."""
    folded: str
    """``words`` without diacritics."""


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def language_of(text: str, tag: str = "") -> str:
    """The comment's language: its tag's primary subtag when given, else the packaged detector's."""
    primary = tag.strip().split("-")[0].split("_")[0].lower()
    if primary:
        return primary
    language, _probability = _identifier().classify(text)
    return str(language)


@cache
def _segmenter() -> Any:
    from underthesea import word_tokenize  # loads the CRF model packaged in the wheel, once

    return word_tokenize


def clauses(text: str, language: str) -> list[list[str]]:
    """The comment's words (lower-case NFC), clause by clause (punctuation and markers break clauses)."""
    clean = _MARKER.sub(" , ", unicodedata.normalize("NFC", text)).lower()
    out = []
    for part in _BREAK.split(clean):
        if language == "vi":
            words = [w.strip() for w in _segmenter()(part) if any(c.isalpha() for c in w)]
        else:
            words = _LETTERS.findall(part)
        if words:
            out.append([" ".join(w.split()) for w in words])
    return out


def _is_stop(word: str, language: str) -> bool:
    if word in KEPT:
        return False
    if language != "vi":
        return word in EN_STOP or len(word) < 2
    return word in VI_STOP or (word == fold(word) and word in VI_STOP_FOLDED) or len(word) < 2


def terms_of(parts: Iterable[list[str]], language: str) -> tuple[str, ...]:
    """Words and two-word phrases of the clauses, stop words left out, each once (first-seen order)."""
    seen: dict[str, None] = {}
    for clause in parts:
        kept = [w for w in clause if not _is_stop(w, language)]
        for word in kept:
            seen.setdefault(word, None)
        for first, second in itertools.pairwise(kept):
            seen.setdefault(f"{first} {second}", None)
    return tuple(seen)


def analyse(comment: str, tag: str = "") -> Analysed:
    """Language, terms, words and folded words of one (redacted) comment."""
    language = language_of(comment, tag)
    parts = clauses(comment, language)
    words = " ".join(w for clause in parts for w in clause)
    return Analysed(language, terms_of(parts, language), words, fold(words))
