#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ocf-tester on each bacula-ha agent, run on a Director node of the running cluster
# (cluster.sh calls it on dir2; run it again any time with
#   vagrant ssh dir1 -c 'sudo /bacula-ha/vagrant/provision/ocf-tester.sh'
# the settings then come from /etc/bacula-ha/settings.env, written by base.sh).
# Private test instances, so the cluster's own resources are not touched: a Director
# on port 19101 with its own directories, the external catalog on gitcat, and a
# config-pull deployment into a scratch directory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${BHA_LIB:-/bacula-ha/vagrant/provision/lib.sh}"
if [[ -z ${BHA_NODES:-} && -r $BHA_ETC/settings.env ]]; then
    # shellcheck source=/dev/null
    . "$BHA_ETC/settings.env"
fi
require_settings
load_secrets

gitcat_ip=$(node_ip gitcat)
ocf_dir=/usr/lib/ocf/resource.d/bacula
base=/var/lib/bacula-ha/ocf-tester
test_port=19101
report=/var/log/bacula-ha-ocf-tester.log

rm -rf "$base"
install -d -m 0755 "$base"
install -d -m 0750 -o root -g bacula "$base/etc"
for dir in work run log; do
    install -d -m 0750 -o bacula -g bacula "$base/$dir"
done
install -d -m 0755 "$base/cache"   # $base/live: made by config-pull (a symlink it swaps)
: >"$base/log/bacula.log"
chown bacula:bacula "$base/log/bacula.log"

write_director_secrets "$base/etc/secrets.conf" "$gitcat_ip" 5432
director_conf "$test_port" "$base/work" "$base/run" "$base/log/bacula.log" "$base/etc/secrets.conf" \
    | write_file "$base/etc/bacula-dir.conf" 0640 root:bacula
write_console_conf "$base/etc/bconsole.conf" 127.0.0.1 "$test_port"

# The config test (bacula-dir -t) connects to the catalog the tree names: in the
# git architecture that is gitcat's; in the drbd one it is the group's local
# PostgreSQL, which is not running on every node.
if [[ $BHA_ARCH == git ]]; then validate=true; else validate=false; fi

declare -A params=(
    [bacula-catalog-check]="host=$gitcat_ip port=5432 dbname=bacula user=bacula passfile=$BHA_ETC/catalog.pgpass mode=external"
    [bacula-director]="config=$base/etc/bacula-dir.conf console_config=$base/etc/bconsole.conf address=127.0.0.1 port=$test_port"
    [bacula-config-pull]="repository=git://$gitcat_ip/$BHA_GIT_REPO config_dir=$base/live cache_dir=$base/cache validate=$validate"
)

: >"$report"
failed=()
for agent in bacula-catalog-check bacula-director bacula-config-pull; do
    args=()
    for kv in ${params[$agent]}; do
        args+=(-o "$kv")
    done
    log "ocf-tester $agent"
    if ocf-tester -n "ocftest-$agent" "${args[@]}" "$ocf_dir/$agent" >>"$report" 2>&1; then
        log "  $agent: passed"
    else
        log "  $agent: FAILED (details in $report)"
        failed+=("$agent")
    fi
done
# Whatever a failed run left behind (ocf-tester stops what it started when it passes).
pidfile=$base/run/bacula-dir.$test_port.pid
if [[ -s $pidfile ]] && grep -q bacula-dir "/proc/$(cat "$pidfile")/comm" 2>/dev/null; then
    kill -KILL "$(cat "$pidfile")" || true
fi

if ((${#failed[@]})); then
    die "ocf-tester failed for: ${failed[*]} (see $report)"
fi
log "ocf-tester passed for every agent"
