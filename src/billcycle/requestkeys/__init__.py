"""``Idempotency-Key`` records of HTTP requests: the first answer to a POST or PATCH,
kept per key for 24 hours and replayed to repeats (see billcycle.web.idempotency)."""
