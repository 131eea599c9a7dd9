"""The order workflow, its messages and the pure business rules it calls."""
