"""Start the student's worker under bubblewrap, with limits, and stop it (and everything it started).

The worker sees: the system's ``/usr`` (and the ``/bin``, ``/lib*`` links to it), the Python installation and the
virtual environment (read-only), this package's ``wire`` and ``worker`` modules (read-only, at ``/grader``), a fresh
``/proc`` and ``/dev``, and an empty private ``/tmp``. It does not see the course repository, ``solutions/``, the
gradebook, other students' files or the network (its own network namespace has no interface but loopback), and it
runs in its own PID namespace: killing the sandbox kills every process the student started.

Limits: address space (``RLIMIT_AS``), CPU seconds (``RLIMIT_CPU``), processes (``RLIMIT_NPROC``, which the kernel
does not apply to root; where this process may create a ``pids`` cgroup, each worker also gets one whose ``pids.max``
is the same limit and which the kernel applies to root too; otherwise, when grading as root, only the PID namespace
and the wall-clock kill stop a fork bomb), file size, and, from the parent, a wall-clock deadline on every reply and a
cap on the bytes of one reply.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
HARD_FACTOR = 5   # the whole notebook, judging included, may take this many times --notebook-seconds
BOOT = ("import sys; sys.path.insert(0, {path!r}); sys.dont_write_bytecode = True; "
        "from course_grading.worker import main; main()")


@dataclass
class Limits:
    memory_mb: int = 4096          # address space of the worker (torch alone maps ~1.5 GB)
    cpu_seconds: int = 60          # CPU time of the worker process
    processes: int = 64            # RLIMIT_NPROC (not applied to root)
    notebook_seconds: float = 40   # wall clock the judge may wait for one notebook's worker (cells + calls)
    startup_seconds: float = 60    # wall clock for starting Python and importing torch in the sandbox
    output_mb: int = 64            # bytes of one reply

    def __post_init__(self):
        for name in ("memory_mb", "cpu_seconds", "notebook_seconds", "startup_seconds", "output_mb"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")


class SandboxUnavailable(RuntimeError):
    pass


HOW_TO = ("bubblewrap is needed to grade safely. Install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`; "
          "Fedora: `sudo dnf install bubblewrap`) and make sure unprivileged user namespaces are enabled "
          "(`sysctl kernel.unprivileged_userns_clone=1`, or on Ubuntu 24.04 "
          "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`). If you already grade inside a container of "
          "your own, pass --no-sandbox (the grades are then marked 'unsandboxed').")


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def probe() -> str | None:
    """``None`` when bubblewrap can create the namespaces the worker needs, else why not (one line)."""
    bwrap = bwrap_path()
    if not bwrap:
        return "bubblewrap (bwrap) is not installed"
    try:
        proc = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not run ({err})"
    if proc.returncode != 0:
        return "bwrap cannot create namespaces here: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return None


def _bind_system(cmd: list) -> None:
    for top in ("/usr",):
        cmd += ["--ro-bind", top, top]
    for name in ("bin", "lib", "lib64", "lib32", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            cmd += ["--ro-bind", str(path), str(path)]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        if Path(f).exists():
            cmd += ["--ro-bind", f, f]


def command(sandbox: bool = True) -> list:
    """The command line that starts a worker (under bwrap when ``sandbox``)."""
    python = sys.executable
    if not sandbox:
        return [python, "-I", "-c", BOOT.format(path=str(PACKAGE.parent))]
    cmd = [bwrap_path() or "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
           "--clearenv", "--setenv", "HOME", "/tmp", "--setenv", "PATH", "/usr/bin:/bin",
           "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "MKL_NUM_THREADS", "1", "--setenv", "MPLBACKEND", "Agg",
           "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    _bind_system(cmd)
    bound = []
    for prefix in {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}:
        if not any(prefix.startswith(b + os.sep) for b in bound):
            bound.append(prefix)
    for prefix in sorted(bound):
        if not prefix.startswith("/usr" + os.sep):
            cmd += ["--ro-bind", prefix, prefix]
    for module in ("__init__.py", "wire.py", "worker.py"):
        cmd += ["--ro-bind", str(PACKAGE / module), f"/grader/course_grading/{module}"]
    cmd += [os.path.join(os.path.realpath(sys.prefix), "bin", "python"), "-I", "-c", BOOT.format(path="/grader")]
    return cmd


def _nproc_limit(extra: int) -> int:
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


def _own_pids_cgroup() -> Path | None:
    """The folder of this process's ``pids`` cgroup (version 1 ``pids`` hierarchy, else the unified one)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            return Path("/sys/fs/cgroup/pids") / path.lstrip("/")
    for line in lines:
        if line.startswith("0::"):
            return Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    return None


_CGROUP_SERIAL = [0]


def pids_cgroup(limit: int) -> Path | None:
    """A new cgroup below this process's own whose ``pids.max`` is ``limit``; ``None`` where none can be made (no
    write access, no ``pids`` controller): then ``RLIMIT_NPROC`` and the PID namespace are what bound processes."""
    parent = _own_pids_cgroup()
    if parent is None or not parent.is_dir():
        return None
    _CGROUP_SERIAL[0] += 1
    group = parent / f"course-grading-{os.getpid()}-{_CGROUP_SERIAL[0]}"
    try:
        group.mkdir()
    except OSError:
        return None
    try:
        (group / "pids.max").write_text(str(limit))
        if (group / "pids.max").read_text().strip() != str(limit):
            raise OSError("pids.max not applied")
        if not _JOIN_WORKS:   # once per process: can a child join it? (else every worker would fail to start)
            joined = subprocess.run(["/bin/sh", "-c", 'echo $$ > "$0"', str(group / "cgroup.procs")],
                                    capture_output=True, timeout=20)
            if joined.returncode != 0:
                raise OSError("cannot join the cgroup")
            _JOIN_WORKS.append(True)
    except (OSError, subprocess.TimeoutExpired):
        remove_cgroup(group)
        return None
    return group


_JOIN_WORKS: list = []


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


class WorkerStopped(RuntimeError):
    """The worker is gone: it was stopped for a limit, or it exited or crashed."""


class Worker:
    """A running worker. ``channel`` calls into it; every read has the notebook's deadline and the size cap."""

    def __init__(self, limits: Limits, sandbox: bool = True):
        self.limits = limits
        self.sandbox = sandbox
        env = dict(os.environ) if not sandbox else None
        limits_env = f"{limits.memory_mb},{limits.cpu_seconds},{_nproc_limit(limits.processes)},64"
        cmd = command(sandbox)
        if sandbox:
            cmd[cmd.index("--clearenv") + 1:cmd.index("--clearenv") + 1] = ["--setenv", "GRADER_LIMITS", limits_env]
        else:
            env.update(GRADER_LIMITS=limits_env, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
        # a pids cgroup, which bounds processes and threads for root as well; the shell joins it before it becomes
        # bubblewrap, so every process of the sandbox is born inside it
        self.cgroup = pids_cgroup(limits.processes + 8) if sandbox else None   # + bwrap and torch's own threads
        if self.cgroup is not None:
            cmd = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.cgroup / "cgroup.procs"), *cmd]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, start_new_session=True, bufsize=0)
        os.set_blocking(self.proc.stdin.fileno(), False)   # writes wait in select, with the notebook's deadline
        self.deadline: float | None = time.monotonic() + limits.startup_seconds   # None once the notebook runs
        self.budget = float(limits.notebook_seconds)
        self.hard_deadline = float("inf")
        self.stopped: str | None = None
        self.ready = False
        self.accounted = False
        from . import wire   # imports torch: after the worker has started, so that both import it at once

        self.channel = wire.Channel(self._read, self._write, owner="judge")
        self.channel.max_message = limits.output_mb << 20
        self.channel.on_broken = self.stop
        self.channel.resolve = None

    # -- deadlines: the startup budget until the worker is ready, then the notebook's budget
    def start_clock(self) -> None:
        """Wait (within the startup budget) for the worker to be ready, then start the notebook's clock.

        The notebook's budget is spent only while the judge waits for the worker (running the reference side of a
        test does not count), so a loaded machine slows the judge without eating the student's time.
        """
        if not self.ready:
            kind, body = self.channel.receive()
            from . import wire

            if kind != b"r" or wire.Decoder(body).decode() != "ready":
                self.stop("the worker did not start properly")
                raise WorkerStopped(self.stopped)
            self.ready = True
        self.budget = float(self.limits.notebook_seconds)
        self.deadline = None
        # a bound on the whole notebook too, judging included (a student's code calling the judge's callbacks in a
        # loop spends the judge's time, not its own)
        self.hard_deadline = time.monotonic() + HARD_FACTOR * self.limits.notebook_seconds

    def _read(self, n: int) -> bytes:
        if self.stopped:
            raise WorkerStopped(self.stopped)
        if n > self.limits.output_mb << 20:
            self.stop(f"output limit: a reply of more than {self.limits.output_mb} MB")
            raise WorkerStopped(self.stopped)
        fd = self.proc.stdout.fileno()
        chunks, left = [], n
        while left:
            if not self._wait(fd, write=False):
                continue
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                self.stop(self._exit_reason())
                raise WorkerStopped(self.stopped)
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _wait(self, fd: int, write: bool) -> bool:
        """Wait until ``fd`` can be read (or written), within the time left; stop the worker when none is left.

        Waiting to write counts like waiting to read: a worker that stops reading its input (while its threads
        flood the judge with calls whose replies fill the pipe) would otherwise block the judge for ever.
        """
        now = time.monotonic()
        remaining = (self.deadline - now) if self.deadline is not None else \
            min(self.budget, self.hard_deadline - now)
        if remaining <= 0:
            what = "start" if self.deadline is not None else "notebook"
            seconds = self.limits.startup_seconds if self.deadline is not None else self.limits.notebook_seconds
            self.stop(f"time limit: the {what} used its {seconds:g} s")
            raise WorkerStopped(self.stopped)
        ready = select.select([] if write else [fd], [fd] if write else [], [], remaining)
        if self.deadline is None:
            self.budget -= time.monotonic() - now
        return bool(ready[0] or ready[1])

    def _exit_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the worker closed its output"
        if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGKILL) \
                or code == 152 or code == 137:
            return f"the worker was stopped (CPU or memory limit, exit status {code})"
        return f"the worker exited (status {code}) before replying"

    def _write(self, data: bytes) -> None:
        if self.stopped:
            raise WorkerStopped(self.stopped)
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view[:1 << 20]):]
            except BlockingIOError:
                self._wait(fd, write=True)
            except OSError:   # a closed pipe: the worker is gone
                self.stop(self._exit_reason())
                raise WorkerStopped(self.stopped) from None

    def _account(self) -> None:
        if not self.accounted and self.proc.poll() is None:
            self.accounted = True
            try:
                _CPU_TOTAL[0] += _tree_cpu(self.proc.pid)
            except OSError:
                pass

    def close(self) -> None:
        """End a worker that did nothing wrong: close its input so it exits."""
        self._account()
        if self.proc.poll() is None and not self.stopped:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.stop("finished")

    def stop(self, reason: str = "stopped") -> None:
        if not self.stopped:
            self.stopped = reason
        self._account()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if getattr(self, "cgroup", None) is not None:
            remove_cgroup(self.cgroup)
            self.cgroup = None
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
