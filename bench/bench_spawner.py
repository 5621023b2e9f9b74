"""A small process that starts the benchmark's children and reports their rusage.

Why: a child's ``ru_maxrss`` on Linux starts from the resident size of the
memory it was started from. ``subprocess`` starts children with vfork, whose
memory is the caller's, so a child of the benchmark would report at least
the benchmark's own peak (tens or hundreds of MB once it has written the data
files). This process imports only the standard library, stays near the size
of a bare interpreter, and starts every child with ``fork`` + ``exec``, so a
child's peak RSS is its own (at least about this process's ~10 MB, about
that of ``python -c pass``).

It is also a child subreaper (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``):
processes a child leaves running when it exits (such as the detached
history.png drawer of older ``cbrun train`` versions) are reparented to it,
so it waits for them too, up to two minutes, and reports their CPU time
apart. The next child then
starts on a machine they no longer load.

Protocol: one JSON request per line on stdin, ``{"argv", "env", "cwd",
"stdout", "stderr"}`` (output file paths); one JSON reply per line on stdout,
``{"wall_s", "cpu_s", "maxrss", "status", "detached", "detached_cpu_s",
"all_done_s"}``. The wall time runs from just before ``fork`` to the return
of ``os.wait4``; ``all_done_s`` to the end of the last process it left.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
DETACHED_TIMEOUT_S = 120.0


def become_subreaper() -> bool:
    """Adopt the orphans of this process's descendants (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def reap_detached(start: float) -> dict[str, Any]:
    """Wait for the processes a child left behind; sum their CPU time."""
    count, cpu = 0, 0.0
    deadline = time.monotonic() + DETACHED_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            break
        if pid == 0:
            time.sleep(0.01)
            continue
        count += 1
        cpu += usage.ru_utime + usage.ru_stime
    return {
        "detached": count,
        "detached_cpu_s": cpu,
        "all_done_s": time.perf_counter() - start,
    }


def spawn(request: dict[str, Any]) -> dict[str, Any]:
    """Run one child to completion; return its wall time and rusage."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    out = os.open(request["stdout"], flags, 0o600)
    err = os.open(request["stderr"], flags, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.chdir(request["cwd"])
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.execvpe(request["argv"][0], request["argv"], request["env"])
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    for fd in (out, err, null):
        os.close(fd)
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "maxrss": usage.ru_maxrss,
        "status": os.waitstatus_to_exitcode(status),
        **reap_detached(start),
    }


def main() -> None:
    become_subreaper()
    for line in sys.stdin:
        reply = spawn(json.loads(line))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
