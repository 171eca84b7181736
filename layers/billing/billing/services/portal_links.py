"""The portal's public address: the sign-in page every customer e-mail links to (billing.services.portal has the
sessions and pages behind it).

Its own module so the notifier renders that link without the portal's sessions, models and repository errors
(docs/benchmarks.md, section 1); ``billing.services.portal`` re-exports both names.
"""

from __future__ import annotations

from billing.i18n import language

PATH_PREFIX = "/portal/"


def sign_in_url(tenant_id: str, locale: str | None, base_url: str | None) -> str | None:
    """The page where a customer asks for a link to their portal by e-mail (in every e-mail)."""
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}{PATH_PREFIX}{tenant_id}/sign-in?lang={language(locale)}"
