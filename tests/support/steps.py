"""Run the production guide's step scripts (vagrant/provision/step-*.sh) on this machine.

A step runs in a private mount namespace with an overlay on /etc, so everything it writes
under /etc lands in a scratch directory and the machine's own /etc is untouched. What cannot
exist here is replaced by logging stubs on PATH, and said so: systemd (PID 1 is not systemd
here), the DRBD kernel module (modprobe/modinfo; drbdadm's `dump` still goes to the real
parser), a running cluster (cibadmin, crm, crm_resource, crm_verify, crm_mon, corosync tools), and the
machine's own PostgreSQL cluster (pg_ctlcluster: a step must not stop or start it).
`bacula-ha render` is the real one, from this checkout.
"""

from __future__ import annotations

import glob
import os
import re
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
                      '  role|dump-md) exit 1 ;;\nesac\n',
    # never the machine's own PostgreSQL cluster: `status` answers STUB_PG_RUNNING (0: running)
    "pg_ctlcluster": _LOG + 'case $3 in status) exit "${STUB_PG_RUNNING:-3}" ;; esac\n',
    "bacula-dir": _LOG,                # -t would wait 30 s for a catalog that is not running here
    "cibadmin": _LOG + 'cat "$STUB_CIB"\n',
    "crm": _LOG + 'if [[ $1 == configure && $2 == load ]]; then cp "${@: -1}" "$STUB_DIR/loaded.${3}"; fi\n',
    # --query-xml: does the resource exist in the (live or copied) CIB? STUB_HAS_GROUP answers.
    "crm_resource": _LOG + 'case " $* " in *" --query-xml "*) exit "${STUB_HAS_GROUP:-1}" ;; esac\n',
    "crm_verify": _LOG,
    "crm_mon": _LOG,
    # render is the real one; check needs a live or complete CIB: logged.
    "bacula-ha": _LOG + 'if [[ $1 == render ]]; then PYTHONPATH="$STUB_LIB" exec ' + SYSTEM_PYTHON
                 + ' -m bacula_ha "$@"; fi\n',
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
             etc_files: Optional[Dict[str, str]] = None, mounted: Optional[str] = None) -> StepRun:
    """Run vagrant/provision/SCRIPT as root with /etc overlaid and the stubs on PATH.

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
    cib = os.path.join(work, "cib.xml")
    with open(cib, "w") as fh:
        fh.write(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    full_env = {"PATH": f"{work}/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
                "STUB_LOG": os.path.join(work, "calls.log"), "STUB_DIR": work, "STUB_CIB": cib,
                "STUB_LIB": LIB_DIR, "STUB_DRBDADM": "/usr/sbin/drbdadm", **(env or {})}
    mount = f"mount -t overlay overlay -o lowerdir=/etc,upperdir={work}/upper,workdir={work}/overlay-work /etc"
    if mounted:
        os.makedirs(os.path.join(work, "mounted"), exist_ok=True)
        os.makedirs(mounted, exist_ok=True)
        mount += f" && mount --bind {work}/mounted {mounted}"
    mount += ' && exec bash "$0"'
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", mount,
                           os.path.join(PROVISION, script)],
                          env=full_env, capture_output=True, text=True, timeout=120)
    return StepRun(proc, work)
