"""The bacula-director agent's actions and the Director knowledge they need."""
