"""Payment runs: collect the receivables that are due (or the records a client names)
through the accounts' payment methods, on the same chunk/worker layer as bill runs."""
