"""Early warnings: a rule engine over the ledger and the data."""
