"""The events outbox: every state change of the domain, written in the transaction that
makes it, for the admin API's listing and for webhook delivery (``billcycle.webhooks``)."""
