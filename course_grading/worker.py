"""The student side: runs one student's notebook code, then answers the judge's calls. Never sees a test.

Started by :mod:`course_grading.sandbox` as ``python -I -c "...; from course_grading.worker import main; main()"``
inside bubblewrap, with only the Python environment and this package's wire/worker modules in view. Protocol
(over its stdin/stdout, see :class:`course_grading.wire.Channel`):

1. The worker says it is ready (torch imported); the judge sends the cells to run, a list of
   ``(label, source)``. The worker runs them in order in one namespace, catching every error per cell, and
   replies ``{"cells": [(label, reason or None)], "names": {name: kind}}`` where ``kind`` is ``"callable"``
   for the functions (and classes) the notebook defined.
2. Then it serves calls ``(name or handle, args, kwargs)`` until its input closes.

The student's own prints go to /dev/null: the protocol streams are moved to private descriptors first, so nothing
the code writes to stdout can be mistaken for a reply (and a forged reply could only change values the student's
functions return anyway).
"""

from __future__ import annotations

import os
import re
import resource
import sys
import types

_MAGIC = re.compile(r"^(\s*)[%!].*$", flags=re.M)


def _set_limits(memory_mb: int, cpu_seconds: int, processes: int, file_mb: int) -> None:
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
    """Run each ``(label, source)``; return ``[(label, reason or None)]``. IPython magics (``%``, ``!``) are skipped."""
    report = []
    for label, source in cells:
        try:
            code = compile(_MAGIC.sub(r"\1pass", source), f"<cell {label}>", "exec")
            exec(code, namespace)  # noqa: S102 - this process exists to run the student's code
            report.append((label, None))
        except BaseException as err:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
            report.append((label, _reason(err)))
    return report


def manifest(namespace: dict) -> dict:
    names = {}
    for name, value in list(namespace.items()):
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if callable(value):
            names[name] = "callable"
    return names


def main() -> None:
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    import torch

    from course_grading import wire

    torch.set_num_threads(1)
    limits = [int(x) for x in os.environ.get("GRADER_LIMITS", "0,0,0,16").split(",")]
    _set_limits(*limits)

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
    channel = wire.Channel(read, write, owner="worker", resolve=lambda name: _lookup(namespace, name))

    class Remote:  # a callable of the judge (a callback passed as an argument)
        def __init__(self, number, name):
            self.number, self.__name__ = number, name

        def __call__(self, *args, **kwargs):
            return channel.call(self.number, args, kwargs)

    channel.make_remote = Remote
    channel.send(b"r", wire.Encoder().encode("ready"))   # torch imported: the notebook's clock starts now
    kind, body = channel.receive()
    cells = wire.Decoder(body).decode()
    sys.argv = ["notebook"]
    report = run_cells(cells, namespace)
    sys.stdout.flush()
    channel.send(b"r", wire.Encoder().encode({"cells": report, "names": manifest(namespace)}))
    try:
        channel.serve_forever()
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
