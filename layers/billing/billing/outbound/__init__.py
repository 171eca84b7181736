"""Events out: the catalog of domain event types, their public envelope, and what carries them to consumers."""
