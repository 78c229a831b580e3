"""What runs *inside* the sandboxed processes of the secure grader: the kernel guard and the re-check runner.

Nothing here is imported by the course's notebooks. Two entry points, both started by
:mod:`reference_impl.grading.secure` with resource limits already applied by the parent:

* ``python -m reference_impl.grading.guard kernel -f CONNECTION_FILE`` -- the ``python3`` kernel used when a
  student's notebook is autograded: it installs an audit hook (:func:`install`) and then starts ipykernel.
* ``python -I -m reference_impl.grading.guard recheck`` -- the independent re-check: reads a JSON job on stdin,
  imports the modules the test cells need, then for every graded test cell forks a child that runs the
  student's answer cells and the test cells up to that one in a fresh namespace, and reports whether the test
  cell completed. Results go to the parent as JSON on stdout.

The audit hook (PEP 578) cannot be removed from Python code once installed. It refuses (raises
``PermissionError``):

* opening for writing anything outside the allowed write roots (the student's own scratch folder);
* opening for reading anything under a denied root (the course repository, the scratch course with the
  gradebook, the submissions, the outputs) unless it is under an allowed read root (the Python environment and
  ``reference_impl``'s own folder);
* starting processes (``os.system``, ``subprocess``, ``exec*``, ``spawn*``, ``fork``), sending signals to other
  processes, loading native libraries with ``ctypes`` and reading raw memory with it;
* in the re-check children only: ``sys._current_frames`` and the ``gc`` object walkers (ways in-process code
  could find the runner's secret; ``sys._getframe`` is needed by torch itself, so answers that name it are
  refused by the static check instead).

What it does not stop: native code already loaded (a crafted ``torch`` call that corrupts memory), and anything
a process can do without an audited call. Those are contained by the process limits and by the fact that the
result of a re-check child counts only when the parent reads a per-child secret that was printed after the test
cell completed and after the integrity checks passed.
"""

from __future__ import annotations

import json
import os
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

_SPAWN_EVENTS = {
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen",
    "pty.spawn", "os.startfile", "os.kill", "os.killpg", "signal.pthread_kill",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.string_at", "ctypes.wstring_at",
    "ctypes.addressof", "ctypes.cdata", "ctypes.cdata/buffer", "ctypes.call_function",
    "os.chdir", "os.chroot", "os.truncate", "os.remove", "os.rename", "os.rmdir", "os.symlink", "os.link",
    "shutil.rmtree", "os.chmod", "os.chown", "os.mkdir", "os.utime",
}
_PATH_EVENTS = {"os.truncate", "os.remove", "os.rename", "os.rmdir", "os.symlink", "os.link", "shutil.rmtree",
                "os.chmod", "os.chown", "os.mkdir", "os.utime"}
_INTROSPECTION_EVENTS = {"sys._current_frames", "gc.get_objects", "gc.get_referrers",
                         "gc.get_referents"}


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def install(write_roots, deny_read_roots, allow_read_roots, *, introspection: bool = True,
            hidden=()) -> None:
    """Install the audit hook. Paths are made absolute and resolved once, here.

    ``hidden``: files that may be neither read nor written even inside a write root (the autograded notebook,
    which holds the restored hidden tests while the kernel runs). Other processes' ``/proc/<pid>`` entries are
    never readable.
    """
    real = os.path.realpath
    hidden = tuple(real(p) for p in hidden)
    write_roots = tuple(real(p) for p in write_roots) + ("/dev/null",)
    deny = tuple(real(p) for p in deny_read_roots)
    allow = tuple(real(p) for p in allow_read_roots)
    pid = os.getpid()
    busy = [False]
    blocked_names = frozenset(_SPAWN_EVENTS)
    path_events = frozenset(_PATH_EVENTS)
    introspect = frozenset(_INTROSPECTION_EVENTS) if not introspection else frozenset()

    def check_path(path, writing: bool) -> None:
        if isinstance(path, int):
            return
        try:
            path = os.fsdecode(path)
        except TypeError:
            return
        full = real(path)
        if full in hidden:
            raise PermissionError(f"grading sandbox: {path!r} is not accessible")
        if full.startswith("/proc/"):
            first = full.split("/")[2]
            if first.isdigit() and int(first) != os.getpid():
                raise PermissionError(f"grading sandbox: reading {path!r} is not allowed")
        if writing:
            if not _under(full, write_roots):
                raise PermissionError(f"grading sandbox: writing {path!r} is not allowed")
        elif _under(full, deny) and not _under(full, allow) and not _under(full, write_roots):
            raise PermissionError(f"grading sandbox: reading {path!r} is not allowed")

    def hook(event: str, args) -> None:
        if busy[0]:
            return
        if event == "open":
            busy[0] = True
            try:
                path, mode, flags = args
                writing = bool(flags & _WRITE_FLAGS) if isinstance(flags, int) else False
                if isinstance(mode, str) and any(ch in mode for ch in "wax+"):
                    writing = True
                check_path(path, writing)
            finally:
                busy[0] = False
        elif event in ("sqlite3.connect",):
            busy[0] = True
            try:
                check_path(args[0], True)
            finally:
                busy[0] = False
        elif event in blocked_names:
            if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
                if event == "os.kill" and args and args[0] == pid:
                    return
            if event in path_events and args:
                busy[0] = True
                try:
                    check_path(args[0], True)
                    if event in ("os.rename", "os.symlink", "os.link") and len(args) > 1:
                        check_path(args[1], True)
                    return
                finally:
                    busy[0] = False
            raise PermissionError(f"grading sandbox: {event} is not allowed")
        elif event in introspect:
            raise PermissionError(f"grading sandbox: {event} is not allowed")

    sys.addaudithook(hook)


def _config_from_env() -> dict:
    with open(os.environ["GRADING_GUARD_CONFIG"], encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------------- the kernel
def kernel_main(argv) -> None:
    """Start ipykernel under the audit hook (the guard's config file is named by ``GRADING_GUARD_CONFIG``)."""
    cfg = _config_from_env()
    # import what the kernel and the course's tests need before the hook is on (ipykernel, torch, the oracle)
    import ipykernel.kernelapp  # noqa: F401
    for name in cfg.get("preload", []):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a missing optional module only costs time later
            pass
    install(cfg["write_roots"], cfg["deny_read_roots"], cfg["allow_read_roots"], hidden=cfg.get("hidden", ()))
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=argv)


# ------------------------------------------------------------------------------------------- the re-check
class _FrozenModule(type(sys)):
    """A module class that refuses to replace or delete an existing attribute (submodules may still be added)."""

    def __setattr__(self, name, value):
        current = self.__dict__.get(name, _MISSING)
        if current is not _MISSING and current is not value and not isinstance(value, type(sys)):
            raise PermissionError(f"grading sandbox: replacing {self.__name__}.{name} is not allowed")
        super().__setattr__(name, value)

    def __delattr__(self, name):
        raise PermissionError(f"grading sandbox: deleting {self.__name__}.{name} is not allowed")


_MISSING = object()


def _freeze(prefixes) -> None:
    for name, module in list(sys.modules.items()):
        if module is None or type(module) is not type(sys):
            continue
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            try:
                module.__class__ = _FrozenModule
            except TypeError:
                pass


_WATCHED_DICTS = (("torch", None), ("torch.linalg", None), ("torch.nn.functional", None), ("numpy", None),
                  ("torch", "Tensor"), ("torch.nn", "Module"), ("torch.nn", "Parameter"))


def _class_snapshot(prefixes) -> dict:
    """The attributes tests rely on: module dicts of torch/numpy, ``torch.Tensor``, and reference_impl's classes.

    Values are kept (not ids) so that a wrapper torch installs around its own function (``__wrapped__``) is
    recognised as the same function.
    """
    snap = {}
    for mod_name, cls_name in _WATCHED_DICTS:
        module = sys.modules.get(mod_name)
        if module is None:
            continue
        target = module if cls_name is None else getattr(module, cls_name, None)
        if target is not None:
            snap[(mod_name, cls_name or "")] = dict(vars(target))
    for name, module in list(sys.modules.items()):
        if module is None or not any(name == p or name.startswith(p + ".") for p in prefixes):
            continue
        if not name.startswith("reference_impl"):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, type) and getattr(value, "__module__", "") == name:
                snap[(name, attr)] = dict(vars(value))
    return snap


def _same(new, old) -> bool:
    """``new`` is ``old``, or a wrapper of it (torch wraps ``Optimizer.step`` with a profiling hook on first use)."""
    seen = 0
    while new is not old and seen < 5:
        new = getattr(new, "__wrapped__", _MISSING) if new is not _MISSING else _MISSING
        if new is _MISSING:
            return False
        seen += 1
    return new is old


def _builtins_snapshot() -> dict:
    import builtins

    return {k: id(v) for k, v in vars(builtins).items()}


def _run_child(job: dict, index: int, secret: str, fd: int) -> None:
    """In the forked child: answers + tests up to test ``index``; report through ``fd`` with ``secret``."""
    import builtins

    write, close, exit_ = os.write, os.close, os._exit
    dup2, open_, devnull = os.dup2, os.open, os.devnull
    null = open_(devnull, os.O_WRONLY)
    dup2(null, 1)
    dup2(null, 2)
    watched = job["watched_modules"]
    frozen = job["frozen_modules"]
    install(job["write_roots"], job["deny_read_roots"], job["allow_read_roots"], introspection=False)
    _freeze(frozen)
    classes = _class_snapshot(watched)
    modules = sys.modules
    modules_before = dict(modules)
    builtin_ids = _builtins_snapshot()
    builtin_names = set(builtin_ids)
    exc_types = (BaseException,)
    cells = job["cells"]
    target = job["tests"][index]
    ns = {"__name__": "__main__", "__builtins__": builtins}
    error = ""
    passed = False
    tampered_modules = []
    memory = False
    wanted = set(target.get("run", range(len(cells))))
    try:
        for position, cell in enumerate(cells):
            if position not in wanted and not (cell["kind"] == "test" and cell["id"] == target["id"]):
                continue
            if cell["kind"] == "test" and cell["id"] == target["id"]:
                # the test runs with the locked setup re-done and no student name hiding a builtin
                for key in [k for k in ns if k in builtin_names or k.startswith("__")]:
                    del ns[key]
                ns["__builtins__"] = builtins
                ns["__name__"] = "__main__"
                swapped = [k for k, v in modules_before.items() if modules.get(k) is not v]
                for k in swapped:  # a module the student replaced in sys.modules is put back
                    modules[k] = modules_before[k]
                if swapped:
                    tampered_modules.extend(swapped[:3])
                for setup in cells:
                    if setup["kind"] == "setup":
                        exec(compile(setup["source"], "<setup>", "exec"), ns)  # noqa: S102
                try:
                    exec(compile(cell["source"], f"<test {cell['id']}>", "exec"), ns)  # noqa: S102
                    passed = True
                except MemoryError:
                    memory = True
                except exc_types as err:  # noqa: BLE001 - any failure of the test cell
                    error = f"{type(err).__name__}: {err}"[:400]
                break
            try:
                exec(compile(cell["source"], f"<{cell['kind']} {cell['id']}>", "exec"), ns)  # noqa: S102
            except MemoryError:
                memory = True
            except exc_types:  # noqa: BLE001 - the notebook goes on after an error, as nbgrader's does
                pass
    except exc_types as err:  # noqa: BLE001
        passed = False
        error = f"runner: {type(err).__name__}"[:400]
    tampered = [f"sys.modules[{k!r}] was replaced" for k in tampered_modules]
    try:
        if _builtins_snapshot() != builtin_ids:
            tampered.append("builtins were modified")
        after = _class_snapshot(watched)
        changed = sorted(".".join(x for x in (mod, cls, key) if x) for (mod, cls), attrs in classes.items()
                         for key, old in attrs.items() if not _same(after.get((mod, cls), {}).get(key, _MISSING), old))
        changed += sorted(".".join(x for x in (mod, cls, key) if x) for (mod, cls), attrs in after.items()
                          for key in attrs if (mod, cls) in classes and key not in classes[(mod, cls)]
                          and cls == "Tensor")
        if changed:
            tampered.append("modified: " + ", ".join(changed[:3]))
    except exc_types:  # noqa: BLE001
        tampered.append("integrity check failed")
    line = json.dumps({"secret": secret, "passed": passed and not tampered and not memory, "error": error,
                       "tampered": tampered, "memory": memory}) + "\n"
    try:
        write(fd, line.encode("utf-8"))
        close(fd)
    finally:
        exit_(0)


def run_recheck(job: dict) -> list:
    """Warm up (trusted solution code), then one forked child per graded test cell; return the results.

    The calling process runs no student code itself; it must not have started threads (fork).
    """
    import secrets
    import select
    import signal
    import time

    for name in job.get("preload", []):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001
            pass
    warmup = job.pop("warmup", [])
    if warmup:  # the solution notebook (trusted code) once, so that torch's lazy imports happen before any fork
        ns = {"__name__": "__main__"}
        for source in warmup:
            try:
                exec(compile(source, "<warm-up>", "exec"), ns)  # noqa: S102
            except Exception:  # noqa: BLE001
                pass
        del ns, warmup
    results = []
    deadline_notebook = time.monotonic() + job["notebook_timeout"]
    for index, test in enumerate(job["tests"]):
        secret = secrets.token_hex(16)
        remaining = deadline_notebook - time.monotonic()
        if remaining <= 0:
            results.append({"id": test["id"], "passed": False, "error": "notebook time limit reached",
                            "limit": "notebook-time"})
            continue
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: keep only stdin/stdout/stderr (redirected) and its own result pipe
            os.close(rfd)
            os.closerange(3, wfd)
            os.closerange(wfd + 1, 4096)
            try:
                if job.get("cwd"):
                    os.chdir(job["cwd"])
                _run_child(job, index, secret, wfd)
            finally:
                os._exit(1)
        os.close(wfd)
        timeout = min(job["cell_timeout"] * min(2, max(1, test["cells_before"])), remaining)
        end = time.monotonic() + timeout
        chunks = []
        size = 0
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                break
            data = os.read(rfd, 65536)
            if not data:
                break
            size += len(data)
            if size > 1 << 20:
                break
            chunks.append(data)
        timed_out = time.monotonic() >= end
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        os.close(rfd)
        entry = {"id": test["id"], "passed": False, "error": "", "limit": ""}
        try:
            lines = b"".join(chunks).decode("utf-8", "replace").splitlines()
            reports = [json.loads(x) for x in lines if x.startswith("{")]
        except ValueError:
            reports = []
        genuine = [r for r in reports if isinstance(r, dict) and r.get("secret") == secret]
        if len(genuine) == 1 and len(reports) == 1:
            r = genuine[0]
            entry["passed"] = bool(r.get("passed"))
            entry["error"] = str(r.get("error", ""))[:400]
            entry["tampered"] = [str(t) for t in r.get("tampered", [])][:5]
            if r.get("memory"):
                entry["limit"] = "memory"
                entry["error"] = "MemoryError: the memory limit was reached"
        elif reports:
            entry["error"] = "forged or duplicated result line"
            entry["tampered"] = ["forged result"]
        elif timed_out:
            entry["error"] = f"time limit ({timeout:.0f} s) reached"
            entry["limit"] = "time"
        else:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            entry["error"] = (f"process killed by signal {sig}" if sig else
                              f"process exited with status {os.WEXITSTATUS(status)} before the test completed")
            entry["limit"] = "died"
        results.append(entry)
        if entry["limit"]:  # the answers hit a limit: every later test would too; the notebook scores 0 anyway
            for rest in job["tests"][index + 1:]:
                results.append({"id": rest["id"], "passed": False, "limit": entry["limit"],
                                "error": "not run: an earlier test hit a limit"})
            break
    return results


def recheck_main() -> None:
    """Standalone re-check: job on stdin (JSON), results on stdout (JSON)."""
    job = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # only the results go to the real stdout
    os.close(null)
    out.write(json.dumps(run_recheck(job)))
    out.flush()


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "kernel":
        kernel_main(argv[1:])
    elif argv and argv[0] == "recheck":
        recheck_main()
    else:
        raise SystemExit("usage: python -m reference_impl.grading.guard {kernel|recheck} ...")


if __name__ == "__main__":
    main()
