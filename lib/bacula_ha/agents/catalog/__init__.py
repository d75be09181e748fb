"""The bacula-catalog-check agent's actions."""
