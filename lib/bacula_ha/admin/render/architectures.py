# SPDX-License-Identifier: GPL-2.0-or-later
"""The architectures as Configs built from validated SiteValues.

Op timeouts are at least what each agent's meta-data advertises (the tests
read the meta-data at test time and compare); recurring monitors of one
resource use distinct intervals, as Pacemaker requires.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

from .model import Clone, Colocation, Config, Group, Location, Op, Order, Pairs, Primitive
from .values import SiteValues

GROUP = "g_bacula"


def _opt(*pairs) -> Pairs:
    """Drop parameters left empty, so the agent's own default applies."""
    return tuple((k, v) for k, v in pairs if v != "")


def _director(v: SiteValues, config: str) -> Primitive:
    return Primitive(
        "p_director", "ocf:bacula:bacula-director",
        params=_opt(("config", config), ("console_config", v.console_config)),
        ops=(Op("start", "0s", "60s"), Op("stop", "0s", "60s"),
             Op("monitor", "10s", "30s"),
             Op("monitor", "60s", "30s", check_level=10)),
        comment="The Director. depth 0 every 10s (process + port: cheap, so a dead or hung\n"
                "bacula-dir is found fast), depth 10 every 60s (authenticated console request\n"
                "through console_config). Intervals chosen from bench/results.md (CPU s per hour).")


def _catalog_check(v: SiteValues, mode: str) -> Primitive:
    if mode == "local":
        params = _opt(("mode", "local"), ("host", v.pg_socketdir), ("port", v.catalog_port),
                      ("dbname", v.catalog_dbname), ("user", v.catalog_user),
                      ("passfile", v.catalog_passfile))
        comment = "Gate: the Director starts only once the catalog takes a committed write\n" \
                  "with the schema version it needs."
        if v.arch == "streaming":
            comment += "\nOn the Promoted PostgreSQL, that write is synchronously committed on a standby too."
    else:
        params = _opt(("mode", "external"), ("host", v.catalog_host), ("port", v.catalog_port),
                      ("dbname", v.catalog_dbname), ("user", v.catalog_user),
                      ("passfile", v.catalog_passfile), ("sslmode", v.catalog_sslmode))
        comment = "Gate on the external catalog: an outage there is reported as degraded (190),\n" \
                  "because moving the Director cannot fix it."
    return Primitive("p_catalog_check", "ocf:bacula:bacula-catalog-check", params=params,
                     ops=(Op("start", "0s", "60s"), Op("stop", "0s", "20s"), Op("monitor", "20s", "30s")),
                     comment=comment)


def _vip(v: SiteValues) -> Primitive:
    return Primitive("p_vip", "ocf:heartbeat:IPaddr2",
                     params=_opt(("ip", v.vip), ("cidr_netmask", v.vip_cidr), ("nic", v.vip_nic)),
                     ops=(Op("start", "0s", "20s"), Op("stop", "0s", "20s"), Op("monitor", "10s", "20s")),
                     comment="The address clients, File and Storage daemons use; last to start, first to stop.")


def _filesystem(v: SiteValues, device: str, comment: str) -> Primitive:
    return Primitive("p_fs", "ocf:heartbeat:Filesystem",
                     params=_opt(("device", device), ("directory", v.mount_point), ("fstype", v.fstype),
                                 ("options", v.fs_options)),
                     ops=(Op("start", "0s", "60s"), Op("stop", "0s", "60s"), Op("monitor", "20s", "40s")),
                     comment=comment)


def _pgsql(v: SiteValues) -> Primitive:
    return Primitive("p_pgsql", "ocf:heartbeat:pgsql",
                     params=_opt(("pgctl", v.pg_bindir + "/pg_ctl"), ("psql", v.pg_bindir + "/psql"),
                                 ("pgdata", v.pgdata), ("config", v.pg_config),
                                 ("socketdir", v.pg_socketdir), ("pgport", v.catalog_port)),
                     ops=(Op("start", "0s", "120s"), Op("stop", "0s", "120s"), Op("monitor", "30s", "30s")),
                     comment="The catalog's PostgreSQL, data directory on the shared/replicated file system.\n"
                             "Disable the distribution's postgresql service on every node.")


def _director_files_comment(v: SiteValues) -> str:
    return (f"The Director's configuration ({v.director_config}) and working directory live on\n"
            f"{v.mount_point} with the catalog; each node's /etc/bacula/bacula-dir.conf only\n"
            f"includes it (@{v.director_config}).")


def _fencing(v: SiteValues) -> Tuple[List[Primitive], List[Location]]:
    method = v.fencing
    delay: Pairs = (("pcmk_delay_max", f"{v.fence_delay_seconds}s"),) if v.fence_delay == "random" else ()
    monitor = (Op("monitor", "60s", "20s"),)
    devices: List[Primitive] = []
    locations: List[Location] = []
    if method == "sbd":
        devices.append(Primitive(
            "fence_sbd", "stonith:fence_sbd", params=(("devices", v.sbd_devices),) + delay, ops=monitor,
            comment="SBD poison pill on a shared disk; the sbd daemon and a hardware watchdog must run\n"
                    "on every node (/etc/default/sbd), and stonith-timeout must exceed SBD's msgwait."))
        return devices, locations
    for node in v.nodes:
        if method == "ipmilan":
            params = _opt(("ip", v.node("ipmi_address", node)), ("username", v.ipmi_user),
                          ("password_script", v.ipmi_password_script),
                          ("lanplus", "1" if v.ipmi_lanplus == "true" else "0"),
                          ("pcmk_host_list", node))
            comment = f"Power fencing of {node} through its BMC; the password comes from a script, not the CIB."
            agent = "stonith:fence_ipmilan"
        else:
            domain = v.node("virsh_domain", node) or node
            params = _opt(("ip", v.virsh_host), ("username", v.virsh_user),
                          ("identity_file", v.virsh_identity_file), ("plug", domain),
                          ("pcmk_host_list", node))
            comment = f"Fencing of the VM {node} (libvirt domain {domain}) through the hypervisor."
            agent = "stonith:fence_virsh"
        dev_id = f"fence_{node}"
        devices.append(Primitive(dev_id, agent, params=params + delay, ops=monitor, comment=comment))
        locations.append(Location(f"l_{dev_id}_not_on_target", dev_id, node, "-INFINITY",
                                  comment="A node never runs the device that fences it."))
    return devices, locations


def _common_tail(v: SiteValues, config: Config) -> None:
    devices, locations = _fencing(v)
    config.resources[:0] = devices
    config.constraints += locations
    props = [("stonith-enabled", "true")]
    if v.fence_delay == "priority":
        props.append(("priority-fencing-delay", f"{v.fence_delay_seconds}s"))
    config.properties = tuple(props)
    config.properties_comment = (
        "Fencing is mandatory: a node that cannot be reached may still write to the catalog.\n"
        + ("priority-fencing-delay: in a fencing race the node running the Director (higher\n"
           "resource priority) is shot later and wins." if v.fence_delay == "priority" else
           "pcmk_delay_max on the devices: a random delay decides fencing races."))
    config.rsc_defaults = (("resource-stickiness", v.stickiness),
                           ("migration-threshold", v.migration_threshold),
                           ("failure-timeout", v.failure_timeout))
    config.defaults_comment = ("Stay where running; after migration-threshold failures on a node the group moves;\n"
                               "failures are forgotten after failure-timeout.")


def _priority(v: SiteValues) -> Pairs:
    return (("priority", "10"),) if v.fence_delay == "priority" else ()


def drbd(v: SiteValues) -> Config:
    drbd_primitive = Primitive(
        "p_drbd", "ocf:linbit:drbd", params=(("drbd_resource", v.drbd_resource),),
        ops=(Op("start", "0s", "240s"), Op("stop", "0s", "100s"), Op("promote", "0s", "90s"),
             Op("demote", "0s", "90s"), Op("notify", "0s", "90s"),
             Op("monitor", "29s", "20s", role="Promoted"), Op("monitor", "31s", "20s", role="Unpromoted")),
        comment=f"DRBD resource {v.drbd_resource} (see drbd-fencing.res for its fencing handlers).")
    clone = Clone("ms_drbd", drbd_primitive,
                  meta=(("promotable", "true"), ("promoted-max", "1"), ("promoted-node-max", "1"),
                        ("clone-max", "2"), ("clone-node-max", "1"), ("notify", "true")) + _priority(v),
                  comment="One Primary (Promoted) at a time; notify=true is required by ocf:linbit:drbd.")
    group = Group(GROUP, [_filesystem(v, v.drbd_device, "The catalog's file system on the DRBD Primary."),
                          _pgsql(v), _catalog_check(v, "local"), _director(v, v.director_config), _vip(v)],
                  meta=_priority(v), comment="Start in this order, stop in reverse, always on one node.\n"
                                             + _director_files_comment(v))
    config = Config("drbd", resources=[clone, group], constraints=[
        Colocation("col_bacula_on_drbd_primary", GROUP, "ms_drbd", "Promoted",
                   comment="The group runs only where DRBD is Primary ..."),
        Order("o_drbd_promote_before_bacula", "ms_drbd", "promote", GROUP, "start",
              comment="... and starts only after the promotion."),
    ])
    _common_tail(v, config)
    return config


def shared(v: SiteValues) -> Config:
    group = Group(GROUP, [_filesystem(v, v.fs_device, "The catalog's file system on a shared LUN or NFS export;\n"
                                                      "mounted on one node at a time, fencing makes that safe."),
                          _pgsql(v), _catalog_check(v, "local"), _director(v, v.director_config), _vip(v)],
                  meta=_priority(v), comment="Start in this order, stop in reverse, always on one node.\n"
                                             + _director_files_comment(v))
    config = Config("shared", resources=[group])
    _common_tail(v, config)
    return config


def _config_pull(v: SiteValues) -> Clone:
    pull = Primitive(
        "p_config_pull", "ocf:bacula:bacula-config-pull",
        params=_opt(("repository", v.git_repository), ("branch", v.git_branch), ("config_dir", v.config_dir),
                    ("main_config", v.main_config), ("allowed_signers", v.allowed_signers),
                    ("ssh_key", v.ssh_key), ("known_hosts", v.known_hosts)),
        ops=(Op("start", "0s", "120s"), Op("stop", "0s", "30s"), Op("promote", "0s", "120s"),
             Op("demote", "0s", "30s"),
             Op("monitor", "29s", "60s", role="Promoted"), Op("monitor", "30s", "60s", role="Unpromoted")),
        comment="Every Director node fetches and validates the configuration; the Promoted\n"
                "instance deploys it into config_dir for the Director.")
    return Clone("ms_config_pull", pull,
                 meta=(("promotable", "true"), ("promoted-max", "1"), ("promoted-node-max", "1"),
                       ("clone-node-max", "1")) + _priority(v),
                 comment="On all Director nodes; the freshest validated one is promoted.")


def git(v: SiteValues) -> Config:
    clone = _config_pull(v)
    config_file = v.config_dir.rstrip("/") + "/" + v.main_config
    group = Group(GROUP, [_catalog_check(v, "external"), _director(v, config_file), _vip(v)],
                  meta=_priority(v), comment="Start in this order, stop in reverse, always on one node.")
    config = Config("git", resources=[clone, group], constraints=[
        Colocation("col_bacula_on_config_pull_promoted", GROUP, "ms_config_pull", "Promoted",
                   comment="The Director runs where its configuration was deployed ..."),
        Order("o_config_pull_promote_before_bacula", "ms_config_pull", "promote", GROUP, "start",
              comment="... and starts only after the deployment (promotion)."),
    ])
    _common_tail(v, config)
    return config


def streaming(v: SiteValues) -> Config:
    """PAF's pgsqlms: one PostgreSQL per node, the Promoted one is the primary, the others
    stream from repl_vip synchronously (postgresql.conf, see streaming-postgresql.conf).
    The configuration comes from Git: streaming replication copies the database only, so
    no file system carries the Director's files from node to node."""
    pg = Primitive(
        "p_pgsql", "ocf:heartbeat:pgsqlms",
        params=_opt(("bindir", v.pg_bindir), ("pgdata", v.pg_config.rsplit("/", 1)[0]),
                    ("datadir", v.pgdata), ("pghost", v.pg_socketdir), ("pgport", v.catalog_port)),
        ops=(Op("start", "0s", "60s"), Op("stop", "0s", "60s"), Op("promote", "0s", "30s"),
             Op("demote", "0s", "120s"), Op("notify", "0s", "60s"),
             Op("monitor", "15s", "10s", role="Promoted"), Op("monitor", "16s", "10s", role="Unpromoted")),
        comment="PostgreSQL on every node, each with its own data directory (PAF, resource-agents-paf).\n"
                "pgdata is the directory of postgresql.conf (Debian), datadir the data itself.\n"
                "PAF never rewinds a former primary: see 'bacula-ha rejoin' in crm-snippets/README.md.")
    ms_pg = Clone("ms_pgsql", pg,
                  meta=(("promotable", "true"), ("promoted-max", "1"), ("promoted-node-max", "1"),
                        ("clone-node-max", "1"), ("notify", "true")) + _priority(v),
                  comment="One primary (Promoted); PAF promotes the standby with the latest WAL and\n"
                          "requires notify=true and promoted-max=1.")
    repl_vip = Primitive("p_vip_repl", "ocf:heartbeat:IPaddr2",
                         params=_opt(("ip", v.repl_vip), ("cidr_netmask", v.vip_cidr), ("nic", v.vip_nic)),
                         meta=(("resource-stickiness", "0"),),
                         ops=(Op("start", "0s", "20s"), Op("stop", "0s", "20s"), Op("monitor", "10s", "20s")),
                         comment="The primary's address for the standbys (primary_conninfo host=): it follows\n"
                                 "the Promoted PostgreSQL even when the Director is down. No stickiness of its\n"
                                 "own: it must not keep the primary where the Director can no longer run.")
    config_file = v.config_dir.rstrip("/") + "/" + v.main_config
    group = Group(GROUP, [_catalog_check(v, "local"), _director(v, config_file), _vip(v)],
                  meta=_priority(v), comment="Start in this order, stop in reverse, always on one node.")
    config = Config("streaming", resources=[ms_pg, repl_vip, _config_pull(v), group], constraints=[
        Colocation("col_repl_vip_on_pgsql_primary", "p_vip_repl", "ms_pgsql", "Promoted",
                   comment="Standbys reach the primary at repl_vip ..."),
        Order("o_pgsql_promote_before_repl_vip", "ms_pgsql", "promote", "p_vip_repl", "start",
              comment="... once it is the primary."),
        Colocation("col_config_pull_promoted_on_pgsql_primary", "ms_config_pull", "ms_pgsql", "Promoted",
                   rsc_role="Promoted",
                   comment="The configuration is deployed where the catalog primary runs ..."),
        Location("l_config_pull_promoted_only_if_validated", "ms_config_pull", "", "-INFINITY",
                 rule="not_defined master-p_config_pull", role="Promoted",
                 comment="... if that node validated one (its promotion score is set): the colocation\n"
                         "above would otherwise promote it there regardless ..."),
        Colocation("col_bacula_on_pgsql_primary", GROUP, "ms_pgsql", "Promoted",
                   comment="... and the Director runs there, with the catalog primary ..."),
        Order("o_pgsql_promote_before_bacula", "ms_pgsql", "promote", GROUP, "start",
              comment="... only after the promotion of the catalog ..."),
        Order("o_repl_vip_before_bacula", "p_vip_repl", "start", GROUP, "start", kind="Optional",
              comment="... and, when both start or stop in one transition, inside the replication\n"
                      "address: the standbys stay connected until the Director has stopped, so its\n"
                      "last catalog writes (job ends, the agent's record of running jobs) still\n"
                      "commit synchronously instead of waiting for a standby that cannot connect.\n"
                      "Optional: a restart of the address alone does not restart the Director ..."),
        Order("o_config_pull_promote_before_bacula", "ms_config_pull", "promote", GROUP, "start",
              comment="... and of the configuration (the deployment). No colocation of the group with\n"
                      "ms_config_pull itself: the chain group -> catalog <- configuration lets a failing\n"
                      "Director move the catalog primary, and the configuration follows it."),
    ])
    _common_tail(v, config)
    return config


def dfs(v: SiteValues) -> Config:
    """External catalog, the Director's files on a distributed file system that every node
    mounts at once: no ownership switch, nothing to promote."""
    resources: List = []
    constraints: List = []
    if v.dfs_managed == "true":
        fs = Primitive("p_dfs", "ocf:heartbeat:Filesystem",
                       params=_opt(("device", v.dfs_device), ("directory", v.mount_point), ("fstype", v.dfs_fstype),
                                   ("options", v.dfs_options)),
                       ops=(Op("start", "0s", "60s"), Op("stop", "0s", "60s"), Op("monitor", "20s", "40s")),
                       comment="The distributed file system with the Director's configuration and working\n"
                               "directory, mounted on every node at once (no ownership switch).")
        resources.append(Clone("cl_dfs", fs, meta=(("interleave", "true"),),
                               comment="On every node; a node that cannot mount it cannot run the Director."))
        constraints += [
            Colocation("col_bacula_with_dfs", GROUP, "cl_dfs",
                       comment="The Director runs only where the file system is mounted ..."),
            Order("o_dfs_before_bacula", "cl_dfs", "start", GROUP, "start",
                  comment="... and starts after the mount."),
        ]
    group = Group(GROUP, [_catalog_check(v, "external"), _director(v, v.director_config), _vip(v)],
                  meta=_priority(v), comment="Start in this order, stop in reverse, always on one node.\n"
                  f"{v.director_config} and the working directory are on {v.mount_point};\n"
                  "each node's /etc/bacula only points there."
                  + ("" if v.dfs_managed == "true" else
                     f"\n{v.mount_point} is mounted by the system on every node (dfs_managed=false)."))
    config = Config("dfs", resources=resources + [group], constraints=constraints)
    _common_tail(v, config)
    return config


BUILDERS: Dict[str, Callable[[SiteValues], Config]] = {"drbd": drbd, "git": git, "shared": shared,
                                                      "streaming": streaming, "dfs": dfs}
