"""Process settings, read once from ``BILLCYCLE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLCYCLE_", extra="ignore")

    database_url: str = "sqlite:///billcycle.db"
    # SQLite files: WAL checkpoints run in a thread of their own once a connection that
    # committed goes back to the pool, and past this many MB of WAL that connection restarts it
    # (``db.checkpoints``); 0: SQLite's own checkpoint inside each commit past 4 MB.
    sqlite_wal_limit_mb: int = 64
    # Signs OAuth access tokens. When unset, a random secret is generated once and kept in
    # the database, so every server and worker sharing the database agrees on it.
    secret_key: str | None = None
    access_token_ttl_seconds: int = 3600
    # Largest request body accepted after gzip decompression (a gzip bomb answers 413).
    max_body_bytes: int = 10 * 1024 * 1024
    # A request's head, checked before authentication (billcycle.web.limits): request line
    # and headers together, the number of headers, the request line alone. Past them: 431.
    # The general cap on a text value's length in a JSON body (billcycle.web.body; Zuora's
    # longest text field, an account's notes, holds 65,535 characters). Past it: 400.
    max_string_chars: int = 65_536
    max_header_bytes: int = 16 * 1024
    max_header_count: int = 100
    max_request_line_bytes: int = 8 * 1024
    smtp_url: str | None = None
    # Where customers reach this server: links in emails (the hosted card page) start here.
    public_url: str = "http://127.0.0.1:8080"
    # How long a hosted card page link stays usable.
    card_link_ttl_seconds: int = 7 * 86400
    outbox_dir: Path = Path("outbox")
    log_level: str = "info"
    # Log lines as JSON (production) or readable text (console); unset: readable when
    # stderr is a terminal, JSON otherwise.
    log_format: str | None = None
    # One log line per HTTP request (request id, track id, tenant, route, status, time).
    log_requests: bool = True
    # `billcycle worker` serves its own /metrics on this port when set.
    worker_metrics_port: int | None = None
    # Background work. A chunk whose worker stops renewing it is re-claimed after the lease.
    worker_lease_seconds: int = 60
    # Drains dispatched per bill run or bulk job (parallel workers that can share it).
    worker_fanout: int = 4
    # Scheduler and reaper period.
    worker_tick_seconds: float = 5.0
    # Accounts per bill-run chunk, records per bulk-job chunk.
    bill_run_chunk_size: int = 1000
    bulk_job_chunk_size: int = 1000
    # Accounts per payment-run chunk (a chunk is collected in slices that each commit on
    # their own, renewing the lease: ``paymentruns.collect``); gateway calls a
    # payment-run worker keeps in flight. 4,000 on PostgreSQL: two slices a chunk (a
    # slice's fixed statements and commits were ~20% of a 20,000-payment run's worker CPU
    # at 1,000 a chunk and a slice, session 9).
    payment_run_chunk_size: int = 4000
    # The same on SQLite, whose one writer is the embedded worker's one thread: a chunk of
    # several slices, so that slice N+1 begins (and N-1 finishes) while slice N's calls
    # are out in a thread of their own (``collect.collect_pipelined``), and the chunk's
    # own work (claim, lease, planner statistics, completion) is paid once per five
    # slices rather than once a slice. PostgreSQL keeps ``payment_run_chunk_size``: its
    # workers share the chunks.
    payment_run_chunk_size_sqlite: int = 10000
    # Records a slice of a chunk takes at least (``collect.SLICE_RECORDS``; at least
    # ``2 * payment_run_in_flight``): each slice is begun, sent and finished in units of
    # work of its own, and its gateway calls all happen between two renewals of the
    # chunk's lease (2,000 calls at 64 in flight and 1 s a call: ~31 s of a 60 s lease).
    payment_run_slice_records: int = 2000
    payment_run_in_flight: int = 64
    # A payment run's chunks decided and settled as sets (paymentruns.setbased); False:
    # every record row by row, as before.
    payment_run_set_based: bool = True
    # SQLite: a set-based slice's decision read taken ahead on a connection of its own
    # while the slice before it is finished (paymentruns.ahead); False: read under the
    # write lock only, as before.
    payment_run_read_ahead: bool = True
    # An electronic payment (or refund) still Processing this long after it was sent is
    # looked up at its gateway by the reconciler; longer than any gateway call can take,
    # so a call still in flight is never taken for one the gateway never received.
    payment_reconcile_after_seconds: int = 300
    # At most this many looked up per scheduler tick.
    payment_reconcile_batch: int = 100
    # Rate limits, requests a minute (0: none): per tenant, and per credential (OAuth
    # client or API key); each tenant can have its own (`billcycle tenant rate-limit`).
    rate_limit_per_minute: int = 50000
    client_rate_limit_per_minute: int = 0
    # The counters' file, shared by the processes of `billcycle serve --workers N` (serve
    # sets it); unset, one process counts in its own memory.
    rate_limit_file: Path | None = None
    # Audit events older than this are deleted (`billcycle audit purge`, and the scheduler).
    audit_retention_days: int = 365
    # Webhooks: requests in flight per endpoint, each request's timeout, and how many
    # days an endpoint may fail every delivery before it is disabled.
    webhook_max_concurrency: int = 16
    webhook_timeout_seconds: float = 10.0
    webhook_disable_after_days: int = 5
    # SQLite: the most request writes of one server process that share one transaction
    # and commit (group commit, billcycle.web.units); 1: each write its own.
    write_group_limit: int = 32


@lru_cache
def get_settings() -> Settings:
    return Settings()
