"""Request rate limits per tenant and per credential, counted in fixed one-minute windows
shared by every server process of one machine (see :mod:`.counter`)."""
