# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the production guide's step scripts (vagrant/provision/step-*.sh) on this machine.

A step runs in a private mount namespace with an overlay on /etc, so everything it writes
under /etc lands in a scratch directory and the machine's own /etc is untouched. What cannot
exist here is replaced by logging stubs on PATH, and said so: systemd (PID 1 is not systemd
here), the DRBD kernel module (modprobe/modinfo; drbdadm's `dump` still goes to the real
parser), a running cluster (cibadmin, crm, crm_resource, crm_verify, crm_mon, corosync tools), a BMC
(fence_ipmilan), and the
machine's own PostgreSQL cluster (pg_ctlcluster: a step must not stop or start it).
`bacula-ha render` is the real one, from this checkout.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from typing import Dict, List, Optional, Set

from .paths import LIB_DIR, ROOT, SYSTEM_PYTHON

PROVISION = os.path.join(ROOT, "vagrant", "provision")
STEP_SCRIPTS = sorted(glob.glob(os.path.join(PROVISION, "step-*.sh")))


def site_variables_read(script: str) -> Set[str]:
    """The site.env variables a step script reads (BHA_SITE only names the file)."""
    with open(script) as fh:
        return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", fh.read())) - {"BHA_SITE"}

_LOG = 'printf "%s\\n" "$(basename "$0") $*" >>"$STUB_LOG"\n'


def _real_on_cib_file(command: str) -> str:
    """With STUB_REAL_CRM=1, a Pacemaker tool working on a CIB file (CIB_file) is the real one."""
    tool, _, opts = command.partition(" ")
    return (f'if [[ -n ${{STUB_REAL_CRM:-}} && -n ${{CIB_file:-}} ]]; then exec /usr/sbin/{tool} '
            f'{opts + " " if opts else ""}"$@"; fi\n')


STUBS = {
    # systemctl is-active/is-enabled answer STUB_ACTIVE (0: yes); everything else succeeds.
    "systemctl": _LOG + 'case $1 in is-active|is-enabled) exit "${STUB_ACTIVE:-1}" ;; esac\n',
    "modprobe": _LOG,
    "modinfo": _LOG + 'echo "$STUB_DRBD_VERSION"\n',
    "blkid": _LOG + 'exit "${STUB_BLKID_RC:-2}"\n',            # 2: no signature on the device
    "corosync-keygen": _LOG + "head -c 256 /dev/urandom >/etc/corosync/authkey\n",
    "corosync-cfgtool": _LOG,
    # drbdadm: `dump` is the real parser (the 8.4 one for 8.4 syntax); the rest is logged.
    "drbdadm": _LOG + 'case $1 in\n  dump) exec "$STUB_DRBDADM" "$@" ;;\n'
                      '  role|dump-md) exit 1 ;;\n'
                      '  cstate) echo "${STUB_CSTATE:-Connected}" ;;\n'
                      '  dstate) echo "${STUB_DSTATE:-UpToDate/UpToDate}" ;;\nesac\n',
    "apt-get": _LOG,                                 # no package is installed by a test
    # dpkg-query -W -f=... PKG: installed ("ii ") if PKG is in STUB_INSTALLED (space-separated)
    "dpkg-query": 'if [[ " ${STUB_INSTALLED:-} " == *" ${*: -1} "* ]]; then printf "ii "; exit 0; fi\nexit 1\n',
    "debconf-set-selections": _LOG + 'cat >"$STUB_DIR/debconf"\n',
    "make": _LOG,
    "mkfs.ext4": _LOG,
    "sleep": "",                                     # the steps' waits poll a stub: no need to wait
    "seq": 'exec /usr/bin/seq "${STUB_SEQ:-$1}"\n',   # STUB_SEQ: fewer polls before giving up
    "mount": _LOG,
    "umount": _LOG,
    # never the machine's own PostgreSQL cluster: `status` answers STUB_PG_RUNNING (0: running)
    "pg_ctlcluster": _LOG + 'case $3 in status) exit "${STUB_PG_RUNNING:-3}" ;; esac\n',
    "fence_ipmilan": _LOG + 'echo "Status: ON"\n',      # no BMC here
    "bacula-dir": _LOG,                # -t would wait 30 s for a catalog that is not running here
    "cibadmin": _LOG + _real_on_cib_file("cibadmin") + 'cat "$STUB_CIB"\n',
    # With STUB_REAL_CRM=1, the Pacemaker tools run for real on the step's CIB copy (crmsh forced:
    # the agents are not installed here); the push to the live cluster is only recorded.
    "crm": _LOG + 'if [[ $1 == configure && $2 == load ]]; then cp "${@: -1}" "$STUB_DIR/loaded.${3}"; fi\n'
                  + _real_on_cib_file("crm -F"),
    # --query-xml: does the resource exist in the (live or copied) CIB? STUB_HAS_GROUP answers.
    "crm_resource": _LOG + _real_on_cib_file("crm_resource")
                    + 'case " $* " in\n  *" --query-xml "*) exit "${STUB_HAS_GROUP:-1}" ;;\n'
                      '  *" --locate "*) echo "resource is running on: somewhere" ;;\nesac\n',
    "crm_node": _LOG + 'echo "$STUB_PARTITION"\n',
    "stonith_admin": _LOG,
    "bconsole": _LOG + 'cat >/dev/null; echo "bacula-dir Version: 9.6.7 (10 December 2020)"\n',
    "crm_verify": _LOG + 'if [[ -n ${STUB_REAL_CRM:-} ]]; then exec /usr/sbin/crm_verify "$@"; fi\n',
    "crm_mon": _LOG + _real_on_cib_file("crm_mon"),
    # render is the real one; check too with STUB_REAL_CRM=1 (else it would read a live CIB).
    "bacula-ha": _LOG + 'if [[ $1 == render || ( $1 == check && -n ${STUB_REAL_CRM:-} ) ]]; then '
                 'PYTHONPATH="$STUB_LIB" exec ' + SYSTEM_PYTHON + ' -m bacula_ha "$@"; fi\n',
}


class StepRun:
    """The result of one step: exit status, output, the calls the stubs saw, files written."""

    def __init__(self, proc: subprocess.CompletedProcess, work: str) -> None:
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.work = work
        log = os.path.join(work, "calls.log")
        self.calls: List[str] = open(log).read().splitlines() if os.path.exists(log) else []

    def etc(self, path: str) -> str:
        """A file the step wrote under /etc (path relative to /etc)."""
        with open(os.path.join(self.work, "upper", path)) as fh:
            return fh.read()

    def called(self, prefix: str) -> List[str]:
        return [c for c in self.calls if c.startswith(prefix)]


def site_env(**values: str) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def run_step(tmp_path, script: str, site: Dict[str, str], env: Optional[Dict[str, str]] = None,
             etc_files: Optional[Dict[str, str]] = None, mounted: Optional[str] = None,
             modes: Optional[Dict[str, int]] = None, groups: Optional[Dict[str, str]] = None) -> StepRun:
    """Run vagrant/provision/SCRIPT as root with /etc overlaid and the stubs on PATH.

    etc_files: files under /etc before the step runs (path relative to /etc: text), with
    `modes` (path: mode) and `groups` (path: group name) where they need them.
    mounted: a directory that is a mount point inside the step's namespace (the replicated
    file system), bind-mounted from `<work>/mounted` where the test reads what the step wrote.
    """
    work = str(tmp_path / "step")
    for sub in ("bin", "upper", "overlay-work"):
        os.makedirs(os.path.join(work, sub), exist_ok=True)
    for name, body in STUBS.items():
        path = os.path.join(work, "bin", name)
        with open(path, "w") as fh:
            fh.write("#!/bin/bash\n" + body)
        os.chmod(path, 0o755)
    for rel, text in {"bacula-ha/site.env": site_env(**site), **(etc_files or {})}.items():
        path = os.path.join(work, "upper", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)
        os.chmod(path, (modes or {}).get(rel, 0o644))
        if rel in (groups or {}):
            shutil.chown(path, group=groups[rel])
    cib = os.path.join(work, "cib.xml")
    with open(cib, "w") as fh:
        fh.write(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    full_env = {"PATH": f"{work}/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
                "STUB_LOG": os.path.join(work, "calls.log"), "STUB_DIR": work, "STUB_CIB": cib,
                "STUB_LIB": LIB_DIR, "STUB_DRBDADM": "/usr/sbin/drbdadm", **(env or {})}
    mount = f"/usr/bin/mount -t overlay overlay -o lowerdir=/etc,upperdir={work}/upper,workdir={work}/overlay-work /etc"
    if mounted:
        os.makedirs(os.path.join(work, "mounted"), exist_ok=True)
        os.makedirs(mounted, exist_ok=True)
        mount += f" && /usr/bin/mount --bind {work}/mounted {mounted}"
    mount += ' && exec bash "$0"'
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", mount,
                           os.path.join(PROVISION, script)],
                          env=full_env, capture_output=True, text=True, timeout=120)
    return StepRun(proc, work)
