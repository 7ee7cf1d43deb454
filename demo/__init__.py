"""``make demo``: run what Airlock can do today on an embedded default."""
