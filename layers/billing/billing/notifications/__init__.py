"""Customer e-mail rendering: subject, plain text and HTML from Jinja2 templates, localized with Babel.

Pure: no I/O besides reading the package's own templates. Sending is someone else's job.
"""

from billing.notifications.render import RenderedEmail, render_email

__all__ = ["RenderedEmail", "render_email"]
