# SPDX-License-Identifier: GPL-2.0-or-later
"""`bacula-ha rejoin`: a former catalog primary becomes a standby again (streaming)."""

from __future__ import annotations

import click


@click.command()
@click.option("--primary", required=True, metavar="HOST",
              help="The current primary: repl_vip of the streaming snippet.")
@click.option("--port", type=click.IntRange(1, 65535), default=5432, show_default=True)
@click.option("--user", default="replicator", show_default=True,
              help="Role on the primary: REPLICATION (pg_basebackup) and pg_rewind's function grants.")
@click.option("--passfile", type=click.Path(dir_okay=False, exists=True), default="",
              help="libpq password file for that role (default: ~postgres/.pgpass).")
@click.option("--datadir", default="/var/lib/postgresql/15/main", show_default=True,
              help="This node's data directory (the snippet's pgdata value, PAF's datadir).")
@click.option("--config-file", default="/etc/postgresql/15/main/postgresql.conf", show_default=True,
              help="postgresql.conf of this node (pg_rewind may have to run crash recovery first).")
@click.option("--bindir", default="/usr/lib/postgresql/15/bin", show_default=True)
@click.option("--basebackup", "allow_basebackup", is_flag=True,
              help="If pg_rewind cannot do it, keep the old data directory aside and copy a fresh one.")
@click.option("--timeout", type=click.IntRange(10, 86400), default=3600, show_default=True,
              help="Seconds for the whole procedure (a base backup of a large catalog takes long).")
def rejoin(primary: str, port: int, user: str, passfile: str, datadir: str, config_file: str, bindir: str,
           allow_basebackup: bool, timeout: int) -> None:
    """Rewind this node's stopped PostgreSQL to follow the current primary (PAF never does).

    Run on the node that was primary before a failover, with ms_pgsql stopped there; then
    `crm resource cleanup ms_pgsql --node THIS_NODE` lets PAF start it as a standby.
    """
    from ..rejoin import Rejoin, RejoinError, Source
    job = Rejoin(datadir, Source(primary, port, user, passfile), bindir, timeout=timeout, config_file=config_file)
    try:
        result = job.run(allow_basebackup=allow_basebackup)
    except RejoinError as exc:
        raise click.ClickException(str(exc))
    if result.method == "none":
        click.echo("nothing to rewind: this data directory already follows the primary")
    elif result.method == "rewind":
        click.echo(f"rewound {datadir} to the primary's timeline with pg_rewind")
    else:
        click.echo(f"copied a fresh {datadir} with pg_basebackup; the old one is kept in {result.kept}")
    click.echo("next: crm resource cleanup ms_pgsql --node $(crm_node -n)")
