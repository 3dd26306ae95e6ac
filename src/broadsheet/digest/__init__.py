"""Email digests: subscriptions with double opt-in, trending and personal digests, exactly-once sending."""
