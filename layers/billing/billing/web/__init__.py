"""The server-rendered pages customers open: the hosted invoice page and the customer portal (one layout, one CSP)."""
