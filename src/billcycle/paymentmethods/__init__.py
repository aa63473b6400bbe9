"""Payment methods: what an account is charged with (a card's gateway token, a bank
mandate), its default, and its retry counters."""
