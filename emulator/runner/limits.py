"""Every size and time limit of the function runner, in one place, each with its reason.

The pool (pool.py) and the worker driver (worker.py) read these; `ProcessRunner` takes
the ones a caller may want to change (concurrency, budget, init timeout) as parameters
with these defaults. Three can be set from the environment for the bench's A/B runs
(bench/README.md): `DUELCTL_MAX_CONCURRENCY`, `DUELCTL_MAX_WORKERS`, `DUELCTL_SPARES`.
"""

from __future__ import annotations

import os

CPUS = os.cpu_count() or 1


def _env_int(name: str, default: int) -> int:
    """An integer override from the environment (the bench's A/B knobs), else `default`."""
    try:
        return max(0, int(os.environ[name]))
    except (KeyError, ValueError):
        return default


# AWS: the Init phase of an execution environment is limited to 10 seconds
# (docs/aws-behaviour.md §13); past it the invoke that waited gets Sandbox.Timedout.
INIT_TIMEOUT_S = 10.0

# Environments per function. AWS starts one per concurrent request (up to 1000 a region);
# locally every one is a process on the same few cores, and a handler spends most of its
# time waiting for its AWS calls, which queue in moto. Measured (bench/README.md, "Where
# the time goes", interleaved A/B): 4 environments gave more pongs per second than 8 or
# 10 and more duels at 100 pairs; with moto split per service, a burst of 50 pairs on 2
# cores is CPU-bound from the first invite, so 8, 16 or 50 environments per function left
# the warm rounds' invite latency where 4 had it, made the first round's cold starts
# (fork, import, first boto3 clients) and accept latency worse, and cost ~27 MB each.
DEFAULT_MAX_CONCURRENCY = _env_int("DUELCTL_MAX_CONCURRENCY", 0) or max(4, 2 * CPUS)


def default_max_workers(functions: int) -> int:
    """Live environments across all functions: one per function plus room to scale.

    Past this a function with queued invokes takes an idle environment elsewhere (one that
    never served first, else the one idle longest: Lambda reclaims idle environments too);
    spares (below) never take one.
    """
    return _env_int("DUELCTL_MAX_WORKERS", 0) or max(1, functions) + 4 * CPUS


# Idle environments a function keeps ready beyond its current demand once it has been
# invoked: when an invoke takes the last idle one, the next is forked in the background,
# so a second concurrent invoke finds a warm environment instead of waiting for an init
# (AWS keeps environments warm after use the same way). One is enough to absorb the start
# of a burst; the burst itself grows the pool up to DEFAULT_MAX_CONCURRENCY, off the
# request path. Spares only use free room in the budget.
SPARES_PER_FUNCTION = _env_int("DUELCTL_SPARES", 1)

# Inits `prewarm` runs at once, so a background prewarm leaves cores to real invokes.
PREWARM_PARALLEL = CPUS

# A worker that closed its channel (crashed, exited) or was killed is given this long to
# report its exit status before it is killed (again) and then declared dead: bounds the
# wait if a process lingers (a handler that ignores its channel closing).
EXIT_GRACE_S = 2.0

# How long `aclose` waits for killed processes to be reaped before giving up on them.
CLOSE_TIMEOUT_S = 5.0

# Output handling: a line longer than this without a newline is logged in pieces; the
# output a worker writes before its first invocation (module init) is kept, up to a
# number of lines, for that invocation's logs.
MAX_LINE_BYTES = 64 * 1024
MAX_INIT_LINES = 1000
READ_SIZE = 256 * 1024
