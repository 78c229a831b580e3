"""The student side: runs one student's notebook code, then answers the judge's calls. Never sees a test.

Started by :mod:`.sandbox` as ``python -I -c "...; from course_grading.isolation.worker import main; main()"``
inside bubblewrap, with only the Python environment and the worker's side of this package (codec, channel, worker)
in view. Protocol (over its stdin/stdout, see :class:`.channel.Channel`):

1. The worker says it is ready (torch imported).
2. It then serves two kinds of message until its input closes, in the order they come: ``x`` runs a list of cells
   ``(label, source)`` in the notebook's one namespace (catching every error per cell) and replies
   ``[(label, reason or None)]``; ``c`` calls one of the notebook's functions by name (the judge calls only the
   functions the assignment declares) and replies with its result. The judge sends the cells in notebook order,
   each test's calls after the cells above that test and before the cells below it, as nbgrader's Validate runs
   a notebook.

The sources arrive with IPython's magics already replaced (:func:`course_grading.course.strip_magics`, applied by
the judge before the course's rule reads them), so the rule checks exactly the code that runs here. The student's own
prints go to /dev/null: the protocol streams are moved to private descriptors first, so nothing the code writes to
stdout can be mistaken for a reply (and a forged reply could only change values the student's functions return
anyway).
"""

from __future__ import annotations

import os
import resource
import sys


def _set_limits(memory_mb: int = 0, cpu_seconds: int = 0, processes: int = 0, file_mb: int = 0) -> None:
    def cap(kind, value):
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass

    if memory_mb > 0:
        cap(resource.RLIMIT_AS, memory_mb << 20)
    if cpu_seconds > 0:
        cap(resource.RLIMIT_CPU, cpu_seconds)
    if processes > 0:
        cap(resource.RLIMIT_NPROC, processes)
    if file_mb > 0:
        cap(resource.RLIMIT_FSIZE, file_mb << 20)
    cap(resource.RLIMIT_CORE, 0)


def _reason(err: BaseException) -> str:
    if isinstance(err, SyntaxError):
        return f"syntax error, line {err.lineno}: {err.msg}"
    try:
        text = str(err)
    except Exception:  # noqa: BLE001
        text = ""
    return f"{type(err).__name__}: {text}"[:500] if text else type(err).__name__


def run_cells(cells, namespace: dict) -> list:
    """Run each ``(label, source)`` (magics already stripped); return ``[(label, reason or None)]``."""
    report = []
    for label, source in cells:
        try:
            code = compile(source, f"<cell {label}>", "exec")
            exec(code, namespace)  # noqa: S102 - this process exists to run the student's code
            report.append((label, None))
        except BaseException as err:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
            report.append((label, _reason(err)))
    return report


def main() -> None:
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    import torch

    from course_grading.isolation.channel import Channel, Remote
    from course_grading.isolation.codec import Decoder, Encoder, WireError

    torch.set_num_threads(1)
    # named limits set by the sandbox (course_grading.isolation.sandbox.Limits); a limit not given is not set
    limits = dict(item.split("=", 1) for item in os.environ.get("GRADER_LIMITS", "").split(",") if "=" in item)
    _set_limits(**{name: int(value) for name, value in limits.items()})

    def read(n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = os.read(proto_in, min(left, 1 << 20))
            if not chunk:
                raise SystemExit(0)
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(proto_out, view):]

    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    channel = Channel(read, write, owner="worker", resolve=lambda name: _lookup(namespace, name))

    channel.make_remote = lambda number, name: Remote(channel, number, name)   # the judge's callbacks
    channel.send(b"r", Encoder().encode("ready"))   # torch imported: the notebook's clock starts now
    sys.argv = ["notebook"]
    sys.path.insert(0, os.getcwd())   # the student's own modules beside the notebook import as in Jupyter
    try:
        while True:
            kind, body = channel.receive()
            if kind == b"x":
                report = run_cells(Decoder(body).decode(), namespace)
                sys.stdout.flush()
                channel.send(b"r", Encoder().encode(report))
            elif kind == b"c":
                channel._serve_one(body)
            else:
                raise WireError(f"unexpected message {kind!r}")
    except SystemExit:
        pass
    os._exit(0)


def _lookup(namespace: dict, name):
    if not isinstance(name, str) or name.startswith("_"):
        return None
    value = namespace.get(name)
    return value if callable(value) else None


if __name__ == "__main__":
    main()
