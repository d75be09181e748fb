#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# gitcat: the git architecture's outside services.
#  - Git server (git daemon, read-only, port 9418) holding the Director configuration
#    that bacula-config-pull deploys; secrets stay out of Git (node-local include).
#  - External catalog PostgreSQL for bacula-catalog-check mode=external.
set -euo pipefail
# Vagrant runs a copy of this script from /tmp: the library comes from the synced folder.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${BHA_LIB:-/bacula-ha/vagrant/provision/lib.sh}"
require_settings
load_secrets

my_ip=$(node_ip gitcat)
apt_install git postgresql bacula-director-pgsql
# Only the catalog scripts of the Director package are used here.
systemctl disable --now bacula-director >/dev/null 2>&1 || true

# --- external catalog -------------------------------------------------------
conf_dir=/etc/postgresql/$PG_VERSION/main
write_file "$conf_dir/conf.d/bacula-ha.conf" 0644 postgres:postgres <<CONF
listen_addresses = 'localhost,$my_ip'
CONF
sed -i '/# bacula-ha$/d' "$conf_dir/pg_hba.conf"
printf 'host bacula bacula %s.0/24 scram-sha-256 # bacula-ha\n' "$BHA_SUBNET" >>"$conf_dir/pg_hba.conf"
systemctl restart postgresql@"$PG_VERSION"-main
wait_for 60 "PostgreSQL on gitcat" runuser -u postgres -- "$PG_BIN/pg_isready" -q
if [[ -z $(runuser -u postgres -- psql -XAtqc "SELECT 1 FROM pg_database WHERE datname='bacula'") ]]; then
    log "creating the external catalog"
    make_catalog /var/run/postgresql 5432
fi
# The password follows the secrets file on re-provisioning.
runuser -u postgres -- psql -Xq -v ON_ERROR_STOP=1 -v pw="$BHA_CATALOG_PASSWORD" <<'SQL'
ALTER USER bacula PASSWORD :'pw';
SQL

# --- Git server ---------------------------------------------------------------
repo=/srv/git/$BHA_GIT_REPO
if [[ ! -d $repo ]]; then
    log "creating $repo"
    install -d -m 0755 /srv/git
    git init -q --bare --initial-branch=main "$repo"
    work=$(mktemp -d)
    git init -q --initial-branch=main "$work"
    # The Director on the cluster reads its secrets from the node-local include.
    director_conf 9101 >"$work/bacula-dir.conf"
    git -C "$work" add bacula-dir.conf
    git -C "$work" -c user.name="bacula-ha vagrant" -c user.email="vagrant@gitcat" \
        commit -q -m "Initial Director configuration"
    git -C "$work" push -q "$repo" main
    rm -rf "$work"
    touch "$repo/git-daemon-export-ok"
fi
write_file /etc/systemd/system/bacula-ha-git-daemon.service 0644 root:root <<UNIT
[Unit]
Description=Read-only Git server for the bacula-ha Director configuration
After=network-online.target

[Service]
User=nobody
# safe.directory: the repository is root-owned, the daemon runs as nobody.
ExecStart=/usr/bin/git -c safe.directory=* daemon --reuseaddr --base-path=/srv/git --listen=$my_ip /srv/git
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable bacula-ha-git-daemon
systemctl restart bacula-ha-git-daemon
log "gitcat ready: git://gitcat/$BHA_GIT_REPO, catalog gitcat:5432"
