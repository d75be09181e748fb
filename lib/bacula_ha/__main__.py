"""`python3 -m bacula_ha` runs the bacula-ha command."""

from .cli import run

run()
