"""Tokenisation of Vietnamese comments with and without diacritics, English, and the query form."""

from __future__ import annotations

from sql.voc import query_words
from voc.text import analyse, language_of


def test_vietnamese_words_are_segmented_with_and_without_diacritics() -> None:
    accented = analyse("Nhân viên không nhiệt tình, giao hàng chậm quá!", "vi")
    plain = analyse("nhan vien khong nhiet tinh, giao hang cham qua!", "vi")
    assert {"nhân viên", "nhiệt tình", "không nhiệt tình", "hàng chậm"} <= set(accented.terms)
    assert {"nhan vien", "nhiet tinh", "khong nhiet tinh", "hang cham"} <= set(plain.terms)
    assert "quá" not in accented.terms and "qua" not in plain.terms  # a stop word either way
    assert accented.folded == plain.folded == "nhan vien khong nhiet tinh giao hang cham qua"
    assert accented.words == "nhân viên không nhiệt tình giao hàng chậm quá"


def test_negations_stay_and_markers_are_clause_breaks() -> None:
    result = analyse("Không thanh toán được bằng thẻ, gọi [phone] giúp", "vi")
    assert "không thanh toán" in result.terms
    assert not any("phone" in t for t in result.terms)
    assert "giúp" in result.terms and "thẻ giúp" not in result.terms


def test_english_and_language_detection() -> None:
    assert analyse("Delivery was late again", "en-US").terms == ("delivery", "late", "delivery late")
    assert language_of("giao hang cham qua") == "vi"
    assert language_of("the checkout was easy") == "en"
    assert analyse("Giao hàng nhanh").language == "vi"


def test_query_words_fold_when_asked() -> None:
    assert query_words("Giao hàng CHẬM", ignore_accents=True) == ["giao", "hang", "cham"]
    assert query_words("Giao hàng CHẬM", ignore_accents=False) == ["giao", "hàng", "chậm"]
