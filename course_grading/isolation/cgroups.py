"""What the kernel bounds and counts for a worker, beyond its rlimits: cgroups and CPU accounting.

A worker gets a ``pids`` cgroup (its ``pids.max`` binds root too, unlike ``RLIMIT_NPROC``) and a memory cgroup (the
files it writes to its tmpfs folders count), where this process may create them; :class:`.sandbox.Worker` makes
them, joins them before bubblewrap starts and removes them when it stops. Where none can be made, the rlimits, the
PID namespace and the tmpfs sizes are what bound the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def nproc_limit(extra: int) -> int:
    """``RLIMIT_NPROC`` counts every process of the user: allow ``extra`` more than the user runs now (0 = root,
    for whom the kernel does not apply the limit)."""
    uid = os.getuid()
    if uid == 0:
        return 0
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count + extra


def _own_cgroup(controller: str) -> Path | None:
    """The folder of this process's cgroup for ``controller`` (its version 1 hierarchy, else the unified one)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup") / controller / path.lstrip("/")
    for line in lines:
        if line.startswith("0::"):
            return Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    return None


_CGROUP_SERIAL = [0]
_JOIN_WORKS: dict = {}   # controller -> True once a child has joined one of its cgroups


def make_cgroup(controller: str, settings: dict) -> Path | None:
    """A new cgroup below this process's own for ``controller``, with ``settings`` (file -> value) written and read
    back; ``None`` where none can be made (no write access, no such controller): then the rlimits, the PID namespace
    and the tmpfs sizes are what bound the worker."""
    parent = _own_cgroup(controller)
    if parent is None or not parent.is_dir():
        return None
    _CGROUP_SERIAL[0] += 1
    group = parent / f"course-grading-{os.getpid()}-{_CGROUP_SERIAL[0]}"
    try:
        group.mkdir()
    except OSError:
        return None
    try:
        for name, value in settings.items():
            (group / name).write_text(str(value))
            if (group / name).read_text().strip() != str(value):
                raise OSError(f"{name} not applied")
        if not _JOIN_WORKS.get(controller):   # once per process: can a child join it? (else no worker would start)
            joined = subprocess.run(["/bin/sh", "-c", 'echo $$ > "$0"', str(group / "cgroup.procs")],
                                    capture_output=True, timeout=20)
            if joined.returncode != 0:
                raise OSError("cannot join the cgroup")
            _JOIN_WORKS[controller] = True
    except (OSError, subprocess.TimeoutExpired):
        remove_cgroup(group)
        return None
    return group


def pids_cgroup(limit: int) -> Path | None:
    """A cgroup whose ``pids.max`` is ``limit`` (the kernel applies it to root too, unlike ``RLIMIT_NPROC``)."""
    return make_cgroup("pids", {"pids.max": limit})


def worker_cgroups(processes: int, memory_mb: int) -> tuple:
    """``(pids group, memory group)`` for one worker, each ``None`` where it cannot be made. With version 1 cgroups
    they are two groups in two hierarchies; with the unified hierarchy one group holds both limits (a process is in
    one group there). The memory limit covers the worker's memory *and* the files it writes to its tmpfs folders
    (the kernel charges tmpfs pages to the cgroup of the process that writes them)."""
    limit = memory_mb << 20
    pids_parent, memory_parent = _own_cgroup("pids"), _own_cgroup("memory")
    if memory_parent is not None and memory_parent == pids_parent:          # unified hierarchy
        both = make_cgroup("pids", {"pids.max": processes, "memory.max": limit, "memory.swap.max": 0})
        return (both, both) if both is not None else (pids_cgroup(processes), None)
    memory = make_cgroup("memory", {"memory.limit_in_bytes": limit}) \
        if memory_parent is not None and (memory_parent / "memory.limit_in_bytes").exists() else None
    return pids_cgroup(processes), memory


def memory_limit_hit(group: Path | None) -> bool:
    """Whether the kernel refused memory to (or killed a process of) ``group`` for its limit."""
    if group is None:
        return False
    try:
        if (group / "memory.failcnt").exists():
            return int((group / "memory.failcnt").read_text()) > 0
        events = dict(line.split() for line in (group / "memory.events").read_text().splitlines())
        return int(events.get("max", 0)) > 0 or int(events.get("oom_kill", 0)) > 0
    except (OSError, ValueError):
        return False


def remove_cgroup(group: Path) -> None:
    """Kill whatever is left in ``group`` and remove it (a cgroup goes only once it is empty)."""
    for _ in range(50):
        try:
            pids = [int(x) for x in (group / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


_CPU_TOTAL = [0.0]   # CPU seconds of every worker ended by this process (their processes are not our children)


def workers_cpu_seconds() -> float:
    """CPU seconds used by the sandboxed workers ended so far (read from /proc just before each one ends)."""
    return _CPU_TOTAL[0]


def count_cpu(pid: int) -> None:
    """Add the CPU seconds of the worker ``pid`` and its processes to :func:`workers_cpu_seconds` (called once, just
    before the worker ends: its processes are not this process's children, so their time is read from /proc)."""
    try:
        _CPU_TOTAL[0] += _tree_cpu(pid)
    except OSError:
        pass


def _tree_cpu(root_pid: int) -> float:
    """CPU seconds (user + system, with reaped children) of ``root_pid`` and every process below it."""
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    below, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in stats.items():
            if ppid == parent and pid not in below:
                below.add(pid)
                frontier.append(pid)
    return sum(stats[p][1] for p in below if p in stats) / os.sysconf("SC_CLK_TCK")
