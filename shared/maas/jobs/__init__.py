"""Asynchronous inference jobs: the record, submission (API and events), and the store they live in."""
