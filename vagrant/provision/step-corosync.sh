#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Both nodes: corosync over knet between the two nodes, then Pacemaker.
# The authentication key is made on NODE1; copy it to NODE2 before running this there:
#   scp -p /etc/corosync/authkey NODE2:/etc/corosync/authkey
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"

if [[ ! -s /etc/corosync/authkey ]]; then
    if [[ $(uname -n) != "$NODE1" ]]; then
        echo "/etc/corosync/authkey missing: copy it from $NODE1" >&2
        exit 1
    fi
    corosync-keygen
fi
chmod 0400 /etc/corosync/authkey

new=$(mktemp /etc/corosync/corosync.conf.XXXXXX)
trap 'rm -f "$new"' EXIT
cat >"$new" <<CONF
# /etc/corosync/corosync.conf: identical on $NODE1 and $NODE2
totem {
  version: 2
  cluster_name: $CLUSTER_NAME
  transport: knet
  # a node is declared lost after 3 s of silence (plus consensus, 1.2 x token)
  token: 3000
  crypto_cipher: aes256
  crypto_hash: sha256
}
nodelist {
  node {
    name: $NODE1
    nodeid: 1
    ring0_addr: $NODE1_ADDR
  }
  node {
    name: $NODE2
    nodeid: 2
    ring0_addr: $NODE2_ADDR
  }
}
quorum {
  provider: corosync_votequorum
  # two nodes: the survivor keeps quorum after fencing its peer; implies
  # wait_for_all (after a full stop, the first node up waits for the other once)
  two_node: 1
}
logging {
  to_logfile: yes
  logfile: /var/log/corosync/corosync.log
  to_syslog: yes
  timestamp: on
}
CONF
chmod 0644 "$new"
if ! cmp -s "$new" /etc/corosync/corosync.conf || ! systemctl is-active --quiet corosync; then
    mv -f "$new" /etc/corosync/corosync.conf
    systemctl enable corosync pacemaker
    systemctl restart corosync
fi
systemctl start pacemaker
corosync-cfgtool -s
