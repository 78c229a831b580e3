"""Start the student's worker under bubblewrap, with limits, and stop it (and everything it started).

The worker sees: the system's ``/usr`` (and the ``/bin``, ``/lib*`` links to it), the Python installation and the
virtual environment (read-only), the worker's side of this package (``course_grading/__init__.py`` and
``isolation/``'s ``__init__``, ``codec``, ``channel``, ``worker``: read-only, at ``/grader``), a fresh
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
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .cgroups import count_cpu, memory_limit_hit, nproc_limit, remove_cgroup, worker_cgroups

PACKAGE = Path(__file__).resolve().parent.parent   # course_grading/
# what the worker imports, and so all of the grader it sees inside the sandbox (paths inside course_grading/)
WORKER_SIDE = ("__init__.py", "isolation/__init__.py", "isolation/codec.py", "isolation/channel.py",
               "isolation/worker.py")
HARD_FACTOR = 5   # the whole notebook, judging included, may take this many times --notebook-seconds
BOOT = ("import sys; sys.path.insert(0, {path!r}); sys.dont_write_bytecode = True; "
        "from course_grading.isolation.worker import main; main()")


@dataclass
class Limits:
    memory_mb: int = 4096          # address space of the worker (torch alone maps ~1.5 GB)
    cpu_seconds: int = 60          # CPU time of the worker process
    processes: int = 64            # RLIMIT_NPROC (not applied to root)
    notebook_seconds: float = 40   # wall clock the judge may wait for one notebook's worker (cells + calls)
    startup_seconds: float = 60    # wall clock for starting Python and importing torch, from when the judge waits
    output_mb: int = 64            # bytes of one reply
    file_mb: int = 64              # size of one file the worker writes (RLIMIT_FSIZE)
    tmp_mb: int = 256              # size of each of the sandbox's tmpfs folders, /tmp and /dev/shm

    def __post_init__(self):
        for name in ("memory_mb", "cpu_seconds", "notebook_seconds", "startup_seconds", "output_mb", "file_mb",
                     "tmp_mb"):
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


MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\.py")
MAX_MODULES, MAX_MODULE_BYTES = 32, 1 << 20


def student_modules(folder: Path) -> list:
    """The student's own modules beside a notebook (``helpers.py``, which the notebook imports as in Jupyter):
    regular files with importable names, at most 32 of at most 1 MB, inside ``folder`` (a link that leads out of it
    is left out). The worker sees them read-only in its working folder."""
    folder = Path(folder)
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    found = []
    for path in entries:
        try:
            if not (MODULE_NAME.fullmatch(path.name) and path.is_file() and not path.is_symlink()
                    and path.resolve().parent == folder.resolve() and path.stat().st_size <= MAX_MODULE_BYTES):
                continue
        except OSError:
            continue
        found.append(path)
    return found[:MAX_MODULES]


def command(sandbox: bool = True, tmp_mb: int = Limits.tmp_mb, modules: list = ()) -> list:
    """The command line that starts a worker (under bwrap when ``sandbox``); ``modules`` are bound read-only into
    its working folder, /tmp."""
    python = sys.executable
    if not sandbox:
        return [python, "-I", "-c", BOOT.format(path=str(PACKAGE.parent))]
    cmd = [bwrap_path() or "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
           "--clearenv", "--setenv", "HOME", "/tmp", "--setenv", "PATH", "/usr/bin:/bin",
           "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "MKL_NUM_THREADS", "1", "--setenv", "MPLBACKEND", "Agg",
           "--proc", "/proc", "--dev", "/dev", "--size", str(tmp_mb << 20), "--tmpfs", "/dev/shm",
           "--size", str(tmp_mb << 20), "--tmpfs", "/tmp", "--chdir", "/tmp"]
    for module in modules:
        cmd += ["--ro-bind", str(module), f"/tmp/{Path(module).name}"]
    _bind_system(cmd)
    bound = []
    for prefix in {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}:
        if not any(prefix.startswith(b + os.sep) for b in bound):
            bound.append(prefix)
    for prefix in sorted(bound):
        if not prefix.startswith("/usr" + os.sep):
            cmd += ["--ro-bind", prefix, prefix]
    for module in WORKER_SIDE:
        cmd += ["--ro-bind", str(PACKAGE / module), f"/grader/course_grading/{module}"]
    cmd += [os.path.join(os.path.realpath(sys.prefix), "bin", "python"), "-I", "-c", BOOT.format(path="/grader")]
    return cmd


class WorkerStopped(RuntimeError):
    """The worker is gone: it was stopped for a limit, or it exited or crashed."""

    stops_channel = True   # raised through the judge's callbacks, never sent back to the worker


class Worker:
    """A running worker, and the one owner of everything about it: it starts the process, times it, talks to it
    (``channel``; every read has the student's deadline and the size cap) and stops it.

    Clocks: the start-up budget runs from when the judge starts waiting for the worker (:meth:`start_clock`), not
    from when it was started ahead of time, so a slow notebook graded before it cannot spend it. After that, the
    notebook's budget runs while a request to the worker is in flight (:meth:`begin` to :meth:`end`, called by the
    channel): the wall time spent waiting for it, plus the judge's CPU time decoding and syncing its replies and
    serving its callbacks. It is checked while it is spent (every wait, every few thousand decoded values, every
    synced argument).
    """

    def __init__(self, limits: Limits, sandbox: bool = True, modules: list = ()):
        self.limits = limits
        self.sandbox = sandbox
        self.workdir = None   # without bubblewrap: a private working folder with copies of the student's modules
        limits_env = ",".join(f"{k}={v}" for k, v in (
            ("memory_mb", limits.memory_mb), ("cpu_seconds", limits.cpu_seconds),
            ("processes", nproc_limit(limits.processes)), ("file_mb", limits.file_mb)))
        modules = [Path(m) for m in modules if MODULE_NAME.fullmatch(Path(m).name)]
        self.modules = modules   # the course's rule reads them too (course_grading.judge)
        cmd = command(sandbox, limits.tmp_mb, modules)
        if not sandbox:
            import tempfile

            self.workdir = tempfile.mkdtemp(prefix="grading-worker-")
            for module in modules:
                shutil.copyfile(module, Path(self.workdir) / module.name)
        if sandbox:
            env = None
            cmd[cmd.index("--clearenv") + 1:cmd.index("--clearenv") + 1] = ["--setenv", "GRADER_LIMITS", limits_env]
        else:
            env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_GRADING_")}
            env.update(GRADER_LIMITS=limits_env, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
        # cgroups bound processes (pids.max, applied to root too) and memory (the tmpfs folders' files included);
        # the shell joins them before it becomes bubblewrap, so every process of the sandbox is born inside them
        pids, self.memory_group = worker_cgroups(limits.processes + 8, limits.memory_mb) if sandbox else (None, None)
        self.pids_group = pids                                   # + 8: bwrap and torch's own threads
        self.cgroups = list(dict.fromkeys(g for g in (pids, self.memory_group) if g is not None))
        if self.cgroups:
            join = 'for f in "$@"; do case "$f" in --) break;; esac; echo $$ > "$f" || exit 1; done; ' \
                   'while [ "$1" != -- ]; do shift; done; shift; exec "$@"'
            cmd = ["/bin/sh", "-c", join, "sh", *[str(g / "cgroup.procs") for g in self.cgroups], "--", *cmd]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, start_new_session=True, bufsize=0, cwd=self.workdir)
        os.set_blocking(self.proc.stdin.fileno(), False)   # writes wait in select, with the notebook's deadline
        self.deadline: float | None = None       # the start-up deadline, while the judge waits for "ready"
        self.budget = float(limits.notebook_seconds)
        self.hard_deadline = float("inf")
        self.call_deadline: float | None = None  # while a request is in flight: the wall-clock bound
        self._depth = 0
        self._began_cpu = 0.0
        self._waited = 0.0
        self.stopped: str | None = None
        self.ready = False
        self.accounted = False
        from .channel import Channel  # imports torch: after the worker has started, so both import it at once

        self.channel = Channel(self._read, self._write, owner="judge")
        self.channel.max_message = limits.output_mb << 20
        self.channel.on_broken = self.stop
        self.channel.meter = self
        self.channel.seen_text = []

    @property
    def cgroup(self) -> Path | None:   # the pids cgroup (tests look at it)
        return self.pids_group

    # -- clocks
    def start_clock(self) -> None:
        """Wait (within the start-up budget, counted from now) for the worker to be ready; the notebook's budget
        is then whole."""
        if not self.ready:
            self.deadline = time.monotonic() + self.limits.startup_seconds
            kind, body = self.channel.receive()
            from .codec import Decoder

            if kind != b"r" or Decoder(body).decode() != "ready":
                self.stop("the worker did not start properly")
                raise WorkerStopped(self.stopped)
            self.ready = True
        self.budget = float(self.limits.notebook_seconds)
        self.deadline = None
        # a bound on the whole notebook, the judge's own work on the reference side included
        self.hard_deadline = time.monotonic() + HARD_FACTOR * self.limits.notebook_seconds

    def begin(self) -> None:
        self._depth += 1
        if self._depth == 1:
            self._began_cpu = time.thread_time()
            self._waited = 0.0
            self.call_deadline = self.hard_deadline   # the wall-clock bound; the budget is checked by _charged

    def _charged(self) -> float:
        """Seconds charged to the student for the request in flight: the wall time spent waiting for its worker,
        plus the judge's own CPU time on its replies and callbacks (CPU time, so that a loaded machine does not
        make the judge's share of an honest notebook look longer)."""
        return self._waited + (time.thread_time() - self._began_cpu)

    def end(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.budget -= self._charged()
            self.call_deadline = None

    def check(self) -> None:
        """Stop the worker if the request in flight has spent the student's budget."""
        if self.call_deadline is not None and (self._charged() >= self.budget
                                               or time.monotonic() >= self.call_deadline):
            self._out_of_time()

    def _out_of_time(self):
        if self.deadline is not None:
            self.stop(f"time limit: the start used its {self.limits.startup_seconds:g} s")
        elif time.monotonic() >= self.hard_deadline:
            self.stop(f"time limit: the notebook and its tests used {HARD_FACTOR} x {self.limits.notebook_seconds:g} s")
        else:
            self.stop(f"time limit: the notebook used its {self.limits.notebook_seconds:g} s (its cells, its "
                      "functions' calls, and the grader's work on their replies)")
        raise WorkerStopped(self.stopped)

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
        if self.deadline is not None:
            left = self.deadline - now
        elif self.call_deadline is not None:
            left = min(self.budget - self._charged(), self.call_deadline - now)
        else:
            left = min(self.budget, self.hard_deadline - now)
        if left <= 0:
            self._out_of_time()
        ready = select.select([] if write else [fd], [fd] if write else [], [], left)
        if self.call_deadline is not None and self.deadline is None:
            self._waited += time.monotonic() - now
        return bool(ready[0] or ready[1])

    def _exit_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the worker closed its output"
        if memory_limit_hit(self.memory_group):
            return (f"memory limit: the notebook used more than {self.limits.memory_mb} MB (its memory and the files "
                    "it wrote to /tmp and /dev/shm)")
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
            count_cpu(self.proc.pid)

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
        for group in getattr(self, "cgroups", []):
            remove_cgroup(group)
        self.cgroups = []
        if getattr(self, "workdir", None):
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
