# SPDX-License-Identifier: GPL-2.0-or-later
"""Handlers for a synthetic agent that exercises the OCF runtime's rules in tests."""

import time

from bacula_ha.ocf.codes import Exit, OcfError


def ok(ctx):
    return None


def echo_params(ctx):
    ctx.log.info("params " + repr(ctx.params.as_dict()))
    return Exit.SUCCESS


def return_code(ctx):
    return int(ctx.environ.get("FAKE_RC", "0"))


def raise_ocf(ctx):
    raise OcfError(Exit.ERR_INSTALLED, "bacula-dir missing\nsecond line")


def raise_bug(ctx):
    raise RuntimeError("boom\nwith a newline")


def log_secret(ctx):
    ctx.log.error(f"connecting with {ctx.params.password}")
    raise OcfError(Exit.ERR_GENERIC, f"auth failed for {ctx.params.password}")


def budget(ctx):
    ctx.log.info(f"budget {ctx.deadline.budget:.3f} {ctx.deadline.remaining():.3f}")
    return Exit.SUCCESS


def sleeper(ctx):
    """Spawn a shell whose child outlives it unless the whole group is killed."""
    marker = ctx.environ["FAKE_MARKER"]
    ctx.run(["/bin/sh", "-c", f"(sleep 30; touch {marker}) & sleep 30"])


def secret_argv(ctx):
    ctx.run(["/bin/echo", ctx.params.password])


def slow_probe_bug(ctx):
    if ctx.env.is_probe:
        raise OcfError(Exit.ERR_CONFIGURED, "probe says configured")
    time.sleep(0)
    return Exit.SUCCESS

