"""The bacula-config-pull agent's actions."""
