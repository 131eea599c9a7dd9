"""Fault tests: the worker is a real `python worker.py` process, killed with SIGKILL or cut off from
PostgreSQL while it works; afterwards every order must reach its state and every ledger balance."""
