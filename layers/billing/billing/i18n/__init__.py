"""One translation catalogue and one set of formats for everything a customer reads: e-mails, pages and PDFs.

``catalogue/<lang>.toml`` holds the texts of each supported language (the same keys in each, a test holds it);
``format_money``/``format_date``/``format_month``/``format_number``/``format_percent`` write amounts, dates, months,
numbers and rates as the language's Babel locale does. Money is exact: minor units become a ``Decimal`` through
``billing.domain.money.to_major`` and are printed with as many decimals as the currency's minor unit has
(``money.minor_unit_exponent`` is the single source of truth).
"""

from __future__ import annotations

import copy
import re
import tomllib
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_skeleton
from babel.numbers import format_currency, format_decimal, get_currency_precision
from babel.numbers import format_percent as format_percent_babel

from billing.domain.money import minor_unit_exponent, normalize_currency, to_major

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
DEFAULT_LANGUAGE = "en"
# Language -> the Babel locale used for numbers, currencies and dates.
BABEL_LOCALES = {"en": "en_US", "zh": "zh_Hans_CN", "ru": "ru_RU"}


def language(locale: str | None) -> str:
    """The supported language of a locale string ("ru", "ru-RU", "zh_CN" ...); anything else is English."""
    lang = re.split(r"[-_]", (locale or "").strip(), maxsplit=1)[0].lower()
    return lang if lang in BABEL_LOCALES else DEFAULT_LANGUAGE


@cache
def messages(lang: str) -> dict[str, Any]:
    """The catalogue of a supported language (see ``language``), as nested dicts."""
    if lang not in BABEL_LOCALES:
        raise ValueError(f"unsupported language: {lang!r}")
    with (CATALOGUE_DIR / f"{lang}.toml").open("rb") as f:
        return tomllib.load(f)


def _babel_locale(locale: str | None) -> str:
    return BABEL_LOCALES[language(locale)]


@cache
def _currency_pattern(babel_locale: str, digits: int):
    """The locale's standard currency pattern with exactly ``digits`` fraction digits."""
    pattern = copy.copy(Locale.parse(babel_locale).currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    return pattern


def format_money(amount: int, currency: str, locale: str) -> str:
    """``amount`` minor units of ``currency`` (ISO 4217, e.g. "usd") as the locale writes it: "$1,234.50"."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be an int in minor units, not {type(amount).__name__}")
    cur = normalize_currency(currency)
    value = to_major(amount, cur)
    digits = minor_unit_exponent(cur)
    loc = _babel_locale(locale)
    code = cur.upper()
    if get_currency_precision(code) == digits:
        return format_currency(value, code, locale=loc, currency_digits=True)
    # CLDR disagrees with ISO 4217 / Stripe on a few currencies (IQD, RSD, LBP ... have 0 digits in CLDR) and Babel
    # would silently round the amount away; force the minor unit's own number of decimals instead.
    return format_currency(value, code, format=_currency_pattern(loc, digits), locale=loc, currency_digits=False)


def format_date(value: date | datetime, locale: str) -> str:
    """A date (or the date part of a datetime, as is) in the locale's long form: "March 1, 2026"."""
    if not isinstance(value, date):
        raise TypeError(f"expected a date or datetime, not {type(value).__name__}")
    return babel_format_date(value, format="long", locale=_babel_locale(locale))


def format_month(value: date, locale: str) -> str:
    """A month as the locale names it standing alone: "November 2026", "2026年11月", "ноябрь 2026 г."."""
    if not isinstance(value, date):
        raise TypeError(f"expected a date, not {type(value).__name__}")
    return format_skeleton("yMMMM", value, locale=_babel_locale(locale))


def format_percent(percent: str, locale: str) -> str:
    """A rate in percent as the reports write it ("97.50", exact) as the locale does: "97.50%", "97,50 %"."""
    value = Decimal(percent)
    digits = max(-value.as_tuple().exponent, 0)  # type: ignore[operator]
    pattern = copy.copy(Locale.parse(_babel_locale(locale)).percent_formats[None])
    pattern.frac_prec = (digits, digits)
    return format_percent_babel(value / 100, format=pattern, locale=_babel_locale(locale), decimal_quantization=False)


def format_number(value: int, locale: str) -> str:
    """An integer (a quantity) as the locale groups its digits: "1,234" or "1 234"."""
    return format_decimal(value, locale=_babel_locale(locale))
