"""The one translation catalogue: every language has exactly the keys English has, no empty text, and the same
placeholders in each text (a translation that drops ``{amount}`` would show a customer a sentence without it)."""

from __future__ import annotations

import string
from typing import Any

import pytest

from billing.i18n import BABEL_LOCALES, CATALOGUE_DIR, language, messages


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_supported_language_has_a_catalogue_and_no_other_file_is_there():
    assert {p.stem for p in CATALOGUE_DIR.glob("*.toml")} == set(BABEL_LOCALES)


@pytest.mark.parametrize("lang", sorted(set(BABEL_LOCALES) - {"en"}))
def test_a_catalogue_has_the_keys_and_placeholders_of_english(lang):
    english, other = _leaves(messages("en")), _leaves(messages(lang))
    assert set(other) == set(english)
    for key, text in english.items():
        assert isinstance(other[key], str) and other[key].strip(), key
        assert _placeholders(other[key]) == _placeholders(text), key


def test_only_supported_languages_have_a_catalogue():
    with pytest.raises(ValueError, match="unsupported language"):
        messages("de")
    assert messages(language("de-DE")) is messages("en")
    assert messages(language("zh_Hans_CN"))["html_lang"] == "zh-CN"
