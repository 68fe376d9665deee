"""HTTP APIs (Powertools resolvers): the control plane under /v1."""
