"""Soak: mixed traffic through the HTTP API, then the ledger, order and history invariants."""
