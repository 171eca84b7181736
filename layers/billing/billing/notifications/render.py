"""Render a customer e-mail of a given kind in the customer's language.

Templates live in ``templates/<kind>/<lang>.subject.txt``, ``<lang>.txt`` and ``<lang>.html`` next to this module;
adding a kind is adding a folder. HTML is autoescaped, text is not, and a variable the template needs but the
context lacks is an error (``StrictUndefined``), never a silent blank in a customer's inbox.

Money is exact: minor units become a ``Decimal`` through ``billing.domain.money.to_major`` and Babel prints it with
as many decimals as the currency's minor unit has (``money.minor_unit_exponent`` is the single source of truth).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, format_decimal, get_currency_precision
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, Undefined, select_autoescape

from billing.domain.money import minor_unit_exponent, normalize_currency, to_major

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_LANGUAGE = "en"
# Language -> the Babel locale used for numbers, currencies and dates.
BABEL_LOCALES = {"en": "en_US", "zh": "zh_Hans_CN", "ru": "ru_RU"}

_KIND = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def language(locale: str | None) -> str:
    """The supported language of a locale string ("ru", "ru-RU", "zh_CN" ...); anything else is English."""
    lang = re.split(r"[-_]", (locale or "").strip(), maxsplit=1)[0].lower()
    return lang if lang in BABEL_LOCALES else DEFAULT_LANGUAGE


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


def _format_number(value: int, locale: str) -> str:
    return format_decimal(value, locale=_babel_locale(locale))


def _http_url(value: str) -> str:
    """A link target we are willing to put in an e-mail: absolute http(s) only, so no ``javascript:`` links."""
    parts = urlsplit(str(value))
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"refusing to render a non-http(s) link: {value!r}")
    return str(value)


def _fail(message: str) -> NoReturn:
    raise ValueError(message)


def _defined(value: Any) -> Any:
    """Filters see a missing value as an Undefined object: make it raise the usual ``UndefinedError``."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises here
        raise ValueError(f"undefined value passed to a filter: {value!r}")
    return value


@cache
def _environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["money"] = lambda amount, currency: format_money(_defined(amount), _defined(currency), lang)
    env.filters["date"] = lambda value: format_date(_defined(value), lang)
    env.filters["number"] = lambda value: _format_number(_defined(value), lang)
    env.filters["http_url"] = lambda value: _http_url(_defined(value))
    env.globals["fail"] = _fail
    return env


def _one_line(subject: str) -> str:
    # A subject is one header line: a newline smuggled in through a name must not start a new header.
    return " ".join(part.strip() for part in subject.splitlines() if part.strip())


def render_email(kind: str, locale: str, context: dict[str, Any]) -> RenderedEmail:
    """Render the ``kind`` e-mail in the language of ``locale`` (unknown languages get English)."""
    if not _KIND.match(kind or "") or not (TEMPLATES_DIR / kind).is_dir():
        raise ValueError(f"unknown e-mail kind: {kind!r}")
    lang = language(locale)
    env = _environment(lang)
    try:
        subject, text, html = (
            env.get_template(f"{kind}/{lang}{suffix}").render(context) for suffix in (".subject.txt", ".txt", ".html")
        )
    except TemplateNotFound as exc:
        raise ValueError(f"e-mail kind {kind!r} has no {lang!r} template: {exc.name}") from exc
    return RenderedEmail(subject=_one_line(subject), text=text, html=html)
