"""What the suppression list's write says when the address is on it already (billing.adapters.repository writes it).

Its own module so that the e-mail feedback worker catches it without importing the repository and every model it
reads (docs/benchmarks.md, section 1); the repository re-exports it.
"""


class AlreadySuppressed(Exception):
    """The address was on the tenant's suppression list already."""
