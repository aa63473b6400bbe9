"""billcycle's own admin API under ``/billcycle/v1``: what neither dialect has (tenants,
their OAuth clients and API keys; later console users, the clock, audit log, events and
webhooks). Operator-key authentication, RFC 9457 problem details, keyset paging."""
