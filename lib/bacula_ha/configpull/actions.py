"""configpull actions (placeholder until the director agent lands)."""

from ..ocf.codes import Exit, OcfError


def _unimplemented(ctx):
    raise OcfError(Exit.ERR_UNIMPLEMENTED, f"{ctx.env.action} is not implemented yet")


def validate(ctx):
    return Exit.SUCCESS


def monitor(ctx):
    return Exit.NOT_RUNNING


def stop(ctx):
    return Exit.SUCCESS


start = promote = demote = _unimplemented
