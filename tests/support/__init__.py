"""Helpers the tests share: running agents, real PostgreSQL clusters, free ports."""
