"""Everything that connects to the outside: settings, Temporal client, HTTP API, CLI."""
