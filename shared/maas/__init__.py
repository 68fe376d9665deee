"""MaaS: the core package."""
