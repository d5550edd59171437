"""Canonical tokens: ERP shorthand and plain words meet on the same tokens."""

from __future__ import annotations

import pytest

from opscopilot.store.text_features import canonical_tokens, char_ngrams, item_search_text


@pytest.mark.parametrize(
    ("erp", "plain"),
    [
        ("GSKT NBR 50X3", "flat gasket, nitrile, 50 x 3 mm"),
        ("ORING 20X2 FKM75", "O-ring 20 x 2 Viton 75 Shore"),
        ("BRG DGBB 6310-ZZ C3", "deep groove ball bearing 6310 2Z C3"),
        ("VLV BALL SS316 1/2IN", 'ball valve, stainless steel 316, 1/2"'),
        ("XMTR PRESS 0-10BAR", "pressure transmitter 0 - 10 bar"),
        ("SOV G1/4 24V DC", "solenoid valve G 1/4 coil 24 VDC"),
        ("MTR 5,5KW 4P", "motor 5.5 kW 4-pole"),
    ],
)
def test_erp_text_and_plain_words_share_their_meaningful_tokens(erp: str, plain: str) -> None:
    erp_tokens = set(canonical_tokens(erp))
    assert erp_tokens <= set(canonical_tokens(plain)), erp_tokens - set(canonical_tokens(plain))


def test_sizes_split_from_units_and_size_codes_joined() -> None:
    assert canonical_tokens("50mm") == ("50", "mm")
    assert canonical_tokens("M8x30 DIN 933") == ("m8", "30", "din933")
    assert canonical_tokens("DN 50 PN16") == ("dn50", "pn16")
    # an inch thread is also the plain fraction a fitter says
    assert canonical_tokens("G1/4") == ("g1/4", "1/4")
    assert canonical_tokens("cable 5 m 3 core") == ("cable", "5", "m", "3", "core")


def test_a_mixed_fraction_is_one_number_not_a_half() -> None:
    assert "1/2" not in canonical_tokens('ball valve 1 1/2"')
    assert canonical_tokens('1 1/2"') == ("1.5", "in")
    assert canonical_tokens("1-1/2IN") == ("1.5", "in")


def test_numbers_are_normalised_and_plurals_folded() -> None:
    assert canonical_tokens("0,75 kW") == ("0.75", "kw")
    assert canonical_tokens("50.0") == ("50",)
    assert canonical_tokens("bearings gaskets") == ("bearing", "gasket")
    assert canonical_tokens("brass stainless") == ("brass", "stainless")


def test_accents_and_stopwords() -> None:
    assert canonical_tokens("Würth hex bolt for the pump") == ("wurth", "hex", "bolt", "pump")


def test_char_ngrams_mark_word_boundaries() -> None:
    assert char_ngrams("gasket") == ("#ga", "gas", "ask", "ske", "ket", "et#")
    assert char_ngrams("a") == ("#a#",)


def test_item_text_is_stable_whatever_the_attribute_order() -> None:
    common = {"sku": "X-1", "name": "Gasket", "description": None, "supplier_name": "ACME",
              "category": None}  # fmt: skip
    one = item_search_text(**common, attributes={"material": "NBR", "size": "50x3"})
    two = item_search_text(**common, attributes={"size": "50x3", "material": "NBR"})
    assert one == two
    assert "material" not in one  # values are searched, keys are not
