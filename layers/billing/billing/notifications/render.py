"""Render a customer e-mail of a given kind in the customer's language.

Templates live in ``templates/<kind>/<lang>.subject.txt``, ``<lang>.txt`` and ``<lang>.html`` next to this module;
adding a kind is adding a folder. HTML is autoescaped, text is not, and a variable the template needs but the
context lacks is an error (``StrictUndefined``), never a silent blank in a customer's inbox.

Amounts, dates and numbers are written by ``billing.i18n`` (the formats every page and PDF uses too); the labels an
invoice shares with the pages and PDFs are the catalogue's (``t`` in a template).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, Undefined, select_autoescape
from markupsafe import escape

from billing.i18n import format_date, format_money, format_number, language, messages

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

_KIND = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


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
    env.filters["number"] = lambda value: format_number(_defined(value), lang)
    env.filters["http_url"] = lambda value: _http_url(_defined(value))
    env.globals["fail"] = _fail
    env.globals["t"] = messages(lang)
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
    # a kind written in each language (<lang>.*), or once for all with the catalogue's texts (all.*)
    name = lang if (TEMPLATES_DIR / kind / f"{lang}.html").is_file() else "all"
    try:
        subject, text, html = (
            env.get_template(f"{kind}/{name}{suffix}").render(context) for suffix in (".subject.txt", ".txt", ".html")
        )
    except TemplateNotFound as exc:
        raise ValueError(f"e-mail kind {kind!r} has no {lang!r} template: {exc.name}") from exc
    text = text.rstrip("\n") + "\n" + env.get_template("_parts/links.txt").render(context)
    subject, text, html = (_one_period(part, context.get("tenant_name")) for part in (subject, text, html))
    return RenderedEmail(subject=_one_line(subject), text=text, html=html)


def _one_period(part: str, seller: Any) -> str:
    """A sentence that ends on the seller's name ("… from {tenant}.") ends once when the name itself ends in a
    period ("Acme Cloud Inc."), in the text and in the HTML (where the name is escaped)."""
    if not isinstance(seller, str) or not seller.endswith("."):
        return part
    for name in {seller, str(escape(seller))}:
        part = part.replace(f"{name}.", name)
    return part
