"""The local runtime: the whole template on one machine, offline, without Docker (docs/ARCHITECTURE.md)."""
