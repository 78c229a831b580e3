"""The boundary between the judge and the student's worker: the plain-data wire, calls both ways, the sandbox.

Round trips of every value kind and the in-place synchronisation are checked on an in-memory channel pair (no
process); handles, callbacks, isolation and limits on a real worker (under bubblewrap when it works here).
"""

from __future__ import annotations

import math
import types
import threading
import time

import pytest
import torch

from course_grading.course import strip_magics
from course_grading.isolation import cgroups, codec, sandbox
from course_grading.isolation import channel as wire_channel
from course_grading.isolation.channel import Remote as RemoteFunction

BWRAP = sandbox.probe() is None


def roundtrip(value, **kw):
    return codec.Decoder(codec.Encoder(**kw).encode(value), **({} if "export" not in kw else {})).decode()


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**70, 1.5, math.inf, -0.0, 1 + 2j, "héllo", b"\x00\xff",
                                   [1, [2, 3]], (1, (2.0, "x")), {"a": 1, 2: [3], (4, 5): None}, torch.float32,
                                   torch.Size([2, 3])])
def test_plain_values_round_trip(value):
    got = roundtrip(value)
    assert got == value and type(got) is type(value) or isinstance(value, torch.Size) and got == tuple(value)


@pytest.mark.parametrize("tensor", [torch.arange(6.0).reshape(2, 3), torch.tensor(3, dtype=torch.int64),
                                    torch.ones(0, 4), torch.randn(3, dtype=torch.float64).t(),
                                    torch.arange(10)[::3], torch.tensor([True, False]),
                                    torch.randn(2, 2, dtype=torch.complex64), torch.randn(3).to(torch.bfloat16)])
def test_tensors_round_trip(tensor):
    got = roundtrip(tensor)
    assert got.dtype == tensor.dtype and got.shape == tensor.shape and torch.equal(got, tensor)


def test_generator_travels_as_its_state():
    gen = torch.Generator().manual_seed(7)
    got = roundtrip(gen)
    assert torch.equal(torch.randperm(10, generator=got), torch.randperm(10, generator=gen))


def test_iterators_are_consumed_and_other_objects_named():
    assert roundtrip(x * x for x in range(4)) == [0, 1, 4, 9]
    assert roundtrip(iter((1, 2))) == [1, 2]
    import numpy as np

    assert roundtrip(np.float32(1.5)) == 1.5 and type(roundtrip(np.int64(3))) is int
    odd = roundtrip(object())
    assert isinstance(odd, codec.Unsupported) and "object" in repr(odd) and odd != odd


@pytest.mark.parametrize("data", [b"", b"Z", b"I\x00", b"L\xff\xff\xff\xff", b"R\x00\x00\x00\x00", b"H" + b"\x00" * 8,
                                  b"Xfloat32", b"NN", b"M\x01\x00\x00\x00L\x00\x00\x00\x00N"])
def test_malformed_messages_raise_wire_error(data):
    with pytest.raises(codec.WireError):
        codec.Decoder(data).decode()


def _pair():
    """Two channels connected in memory, the 'worker' one serving in a thread."""
    import queue

    a_to_b, b_to_a = queue.Queue(), queue.Queue()

    def reader(q):
        buf = bytearray()

        def read(n):
            while len(buf) < n:
                buf.extend(q.get(timeout=10))
            out = bytes(buf[:n])
            del buf[:n]
            return out
        return read

    namespace = {}
    judge = wire_channel.Channel(reader(b_to_a), a_to_b.put, owner="judge")
    worker = wire_channel.Channel(reader(a_to_b), b_to_a.put, owner="worker", resolve=namespace.get)
    judge.make_remote = lambda n, name: RemoteFunction(judge, n, name)
    worker.make_remote = lambda n, name: RemoteFunction(worker, n, name)
    thread = threading.Thread(target=lambda: _serve(worker), daemon=True)
    thread.start()
    return judge, namespace


def _serve(channel):
    try:
        while True:
            kind, body = channel.receive()
            assert kind == b"c"
            channel._serve_one(body)
    except Exception:  # noqa: BLE001 - the queue timing out ends the thread
        pass


def test_in_place_updates_come_back():
    judge, ns = _pair()

    def step(param, grad, state, buf):
        if not state:
            state["m"] = torch.zeros_like(param)
            state["step"] = 0
        state["step"] += 1
        state["m"].mul_(0.9).add_(grad)
        buf.append(len(buf))
        param.sub_(0.1 * state["m"])
        return param
    ns["step"] = step
    param, state, buf = torch.ones(3), {}, []
    out = judge.call("step", (param, torch.ones(3), state, buf))
    assert out is param, "a returned argument comes back as the caller's own object"
    assert torch.allclose(param, torch.full((3,), 0.9)) and state["step"] == 1 and buf == [0]
    m = state["m"]
    judge.call("step", (param, torch.ones(3), state, buf))
    assert state["step"] == 2 and torch.allclose(state["m"], torch.full((3,), 1.9)) and buf == [0, 1]
    assert m is not state["m"] or torch.allclose(m, torch.full((3,), 1.9))


def test_callbacks_and_returned_callables():
    judge, ns = _pair()
    ns["lookahead"] = lambda x, grad_fn, lr: x - lr * grad_fn(x + 1)
    ns["join"] = lambda step, fns: fns[0](step) + fns[1](step)
    ns["make"] = lambda k: (lambda x: k * x)
    calls = []
    out = judge.call("lookahead", (torch.tensor([1.0]), lambda y: calls.append(y) or 2 * y, 0.5))
    assert torch.equal(out, torch.tensor([-1.0])) and len(calls) == 1
    assert judge.call("join", (3, [lambda t: t, lambda t: 10 * t])) == 33
    triple = judge.call("make", (3,))
    assert triple(4) == 12 and callable(triple)


def test_exceptions_keep_builtin_types_and_messages():
    judge, ns = _pair()

    def bad(n):
        if n < 1:
            raise ValueError(f"batch_size must be >= 1, got {n}")
        raise KeyError("x")
    ns["bad"] = bad

    class Mine(Exception):
        pass
    ns["mine"] = lambda: (_ for _ in ()).throw(Mine("custom"))
    with pytest.raises(ValueError, match="batch_size"):
        judge.call("bad", (0,))
    with pytest.raises(KeyError):
        judge.call("bad", (2,))
    with pytest.raises(wire_channel.RemoteError, match="Mine: custom"):
        judge.call("mine")
    with pytest.raises(NameError):
        judge.call("missing")


# ------------------------------------------------------------------------------------------ a real worker
def _worker(cells, **limits):
    worker = sandbox.Worker(sandbox.Limits(**limits), sandbox=BWRAP)
    worker.start_clock()
    worker.channel.make_remote = lambda n, name: RemoteFunction(worker.channel, n, name)
    report = worker.channel.request(b"x", codec.Encoder().encode(
        [(label, strip_magics(source)) for label, source in cells]))
    return worker, dict(report)


def test_worker_runs_cells_reports_reasons_and_serves_calls():
    w, cells = _worker([("a", "def f(x):\n    return x * 2\nprint('test_f passed')"), ("b", "def g(:\n  pass"),
                               ("c", "%matplotlib inline\nh = lambda fn: fn(3)"), ("d", "1 / 0")])
    try:
        assert cells["a"] is None and cells["b"].startswith("syntax error, line 1") and cells["c"] is None
        assert cells["d"] == "ZeroDivisionError: division by zero"
        assert torch.equal(w.channel.call("f", (torch.ones(2),)), torch.full((2,), 2.0))
        assert w.channel.call("h", (lambda k: k + 1,)) == 4
    finally:
        w.stop()


@pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot create namespaces here")
def test_sandbox_hides_the_course_and_the_network():
    probe = ("import os, socket\n"
             "def look():\n"
             "    out = {'cwd': os.getcwd(), 'pid': os.getpid(), 'work': os.path.exists(%r)}\n"
             "    try:\n"
             "        import reference_impl\n"
             "        out['ref'] = True\n"
             "    except ImportError:\n"
             "        out['ref'] = False\n"
             "    s = socket.socket()\n"
             "    s.settimeout(2)\n"
             "    try:\n"
             "        s.connect(('1.1.1.1', 80)); out['net'] = True\n"
             "    except OSError:\n"
             "        out['net'] = False\n"
             "    return out\n") % str(sandbox.PACKAGE.parent / "solutions")
    w, cells = _worker([("a", probe)])
    try:
        seen = w.channel.call("look")
    finally:
        w.stop()
    assert seen == {"cwd": "/tmp", "pid": seen["pid"], "work": False, "ref": False, "net": False}
    assert seen["pid"] < 10, "the worker runs in its own PID namespace"


def test_wall_clock_limit_stops_a_loop_and_later_calls_fail_fast():
    w, cells = _worker([("a", "def spin():\n    while True:\n        pass")], notebook_seconds=3)
    start = time.monotonic()
    with pytest.raises(sandbox.WorkerStopped, match="time limit"):
        w.channel.call("spin")
    with pytest.raises(sandbox.WorkerStopped):
        w.channel.call("spin")
    assert time.monotonic() - start < 20
    assert w.proc.poll() is not None


def test_memory_limit():
    w, cells = _worker([("a", "x = bytearray(8 << 30)")], memory_mb=3000)
    w.stop()
    assert cells["a"] == "MemoryError"


def test_limits_are_validated():
    with pytest.raises(ValueError, match="memory_mb"):
        sandbox.Limits(memory_mb=0)
    with pytest.raises(ValueError, match="notebook_seconds"):
        sandbox.Limits(notebook_seconds=-1)


def test_output_limit_stops_the_worker():
    w, cells = _worker([("a", "import torch\ndef big():\n    return torch.zeros(1_000_000)\n"
                                 "def small():\n    return 1\n")], output_mb=1)
    with pytest.raises((codec.WireError, sandbox.WorkerStopped), match="output limit"):
        w.channel.call("big")
    with pytest.raises(sandbox.WorkerStopped, match="output limit"):
        w.channel.call("small")
    assert w.proc.poll() is not None


def test_a_finished_worker_exits_by_itself():
    w, cells = _worker([("a", "x = 1")])
    w.close()
    assert w.proc.returncode == 0, "closing its input ends the worker normally (so its CPU time is accounted)"


def test_the_judges_time_on_callbacks_is_charged_to_the_student():
    """A student's function that calls back a callable the judge passed, in a loop, spends the judge's time: it is
    charged to the student's budget while it is spent (it used to run 5x the budget and, with it, the next
    student's start-up clock)."""
    w, cells = _worker([("a", "def f(cb):\n    while True:\n        cb(1)\n")], notebook_seconds=2)
    calls = []

    def slow(x):   # the judge's own work for each callback: CPU time, charged to the student
        calls.append(x)
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass
        return x
    start = time.thread_time()
    with pytest.raises(sandbox.WorkerStopped, match="time limit"):
        w.channel.call("f", (slow,))
    assert time.thread_time() - start < 2 + 1.0, "stopped when the budget ran out, not later"
    assert len(calls) > 10


def test_the_start_up_clock_starts_when_the_judge_waits():
    """A worker started ahead of time waits for its turn without losing its start-up budget."""
    w = sandbox.Worker(sandbox.Limits(startup_seconds=20), sandbox=BWRAP)
    try:
        time.sleep(1.0)
        assert w.deadline is None, "no start-up clock before the judge waits"
        before = time.monotonic()
        w.start_clock()
        assert w.ready and time.monotonic() - before < 20
    finally:
        w.close()


@pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot create namespaces here")
def test_a_fork_storm_is_bounded_even_as_root():
    """RLIMIT_NPROC does not bind root: where a pids cgroup can be made, its pids.max does (and it is removed)."""
    probe = cgroups.pids_cgroup(5)
    if probe is None:
        pytest.skip("no writable pids cgroup here (RLIMIT_NPROC and the PID namespace bound processes)")
    cgroups.remove_cgroup(probe)
    assert not probe.exists()
    storm = ("import os, time\n"
             "def storm():\n"
             "    n = 0\n"
             "    for _ in range(300):\n"
             "        try:\n"
             "            if os.fork() == 0:\n"
             "                time.sleep(60)\n"
             "                os._exit(0)\n"
             "        except OSError:\n"
             "            break\n"
             "        n += 1\n"
             "    return n\n")
    w, cells = _worker([("a", storm)], processes=16)
    group = w.cgroup
    try:
        assert group is not None and (group / "pids.max").read_text().strip() == str(16 + 8)
        forked = w.channel.call("storm")
    finally:
        w.stop()
    assert 0 < forked < 16 + 8, f"{forked} processes forked under a limit of 16"
    assert not group.exists(), "the cgroup is removed once every process in it is gone"


def test_a_students_exception_message_cannot_carry_hidden_arguments_into_feedback():
    """The student's function sees a hidden test's arguments; its exception message must not reach the feedback."""
    from course_grading import judge
    from course_grading.course import NotebookSpec, TestCell

    channel, ns = _pair()

    def leak(*args, **kwargs):
        raise ValueError(f"LEAKED {args!r} {kwargs!r}")

    class Custom(Exception):
        pass

    def leak_custom(*args, **kwargs):
        raise Custom(f"LEAKED {args!r}")
    ns.update(leak=leak, leak_custom=leak_custom)
    visible = "assert leak(1.5) == 0, 'visible'\n"
    hidden = "### BEGIN HIDDEN TESTS\nleak(torch.tensor([31.25, 47.5]), lr=0.0731)\n### END HIDDEN TESTS\n"
    custom = "### BEGIN HIDDEN TESTS\nleak_custom(0.0731)\n### END HIDDEN TESTS\n"
    spec = NotebookSpec("nb.ipynb", setup=["import torch"], tests=[
        TestCell("t_visible", 1, visible, False), TestCell("t_hidden", 1, hidden, True),
        TestCell("t_custom", 1, custom, True)])
    spec.functions = ["leak", "leak_custom"]
    verdicts, _ = judge.run_tests(spec, types.SimpleNamespace(channel=channel, stopped=None), hidden=True)
    by_id = {v.grade_id: v for v in verdicts}
    assert not any(v.passed for v in verdicts)
    assert "LEAKED (1.5,)" in by_id["t_visible"].message, "a released test shows the student's own message"
    for gid, kind in (("t_hidden", "raised ValueError"), ("t_custom", "a class your notebook defines")):
        assert "LEAKED" not in by_id[gid].message and "0.0731" not in by_id[gid].message, by_id[gid].message
        assert "Custom" not in by_id[gid].message, "a class name the student chose can carry the inputs"
        assert kind in by_id[gid].message


def test_text_the_student_returns_is_cut_from_messages_of_tests_with_hidden_parts():
    """A returned string, or the name of a class the grader cannot receive, is the student's text: in a test with
    hidden parts it is cut out of the message, whatever the test's assertion made of it."""
    from course_grading import judge
    from course_grading.course import NotebookSpec, TestCell

    channel, ns = _pair()
    ns["echo"] = lambda *args, **kwargs: f"LEAK lr={kwargs.get('lr')} g0={args[0].tolist()}"
    ns["odd"] = lambda *args, **kwargs: type(f"LEAK_lr_{kwargs.get('lr')}", (), {})()
    test = ("### BEGIN HIDDEN TESTS\nout = {fn}(torch.tensor([0.5, -2.0]), lr=0.0731)\n"
            "assert out == 1, f'expected 1, got {{out!r}}'\n### END HIDDEN TESTS\n")
    visible = "out = echo(torch.tensor([1.0]), lr=0.5)\nassert out == 1, f'expected 1, got {out!r}'\n"
    spec = NotebookSpec("nb.ipynb", setup=["import torch"], functions=["echo", "odd"], tests=[
        TestCell("t_echo", 1, test.format(fn="echo"), True), TestCell("t_odd", 1, test.format(fn="odd"), True),
        TestCell("t_visible", 1, visible, False)])
    verdicts, _ = judge.run_tests(spec, types.SimpleNamespace(channel=channel, stopped=None), hidden=True)
    by_id = {v.grade_id: v for v in verdicts}
    for gid in ("t_echo", "t_odd"):
        message = by_id[gid].message
        assert not by_id[gid].passed and "LEAK" not in message and "0.0731" not in message, message
        assert "not shown in a test with hidden parts" in message
    assert "LEAK lr=0.5" in by_id["t_visible"].message, "a released test shows what the function returned"


def test_a_reply_of_a_million_references_is_refused_in_milliseconds():
    """``return [param] * 10**6`` costs the worker nothing to send; each reference is the caller's own tensor."""
    import struct

    param = torch.zeros(1000, dtype=torch.float64)
    data = b"L" + struct.pack("<I", 10**6) + (b"R" + struct.pack("<I", 0)) * 10**6
    start = time.perf_counter()
    with pytest.raises(codec.WireError, match="references"):
        codec.Decoder(data, refs=[param]).decode()
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("item", [b"N", b"T", b"I" + bytes(8)])
def test_a_message_of_millions_of_tiny_values_is_refused_quickly(item):
    """A reply of 64 MB of one-byte values would hold the judge for a minute and half a gigabyte, off the clock."""
    import struct

    n = codec.MAX_VALUES + 10
    data = b"L" + struct.pack("<I", n) + item * n
    start = time.process_time()
    with pytest.raises(codec.WireError, match="values in one message"):
        codec.Decoder(data).decode()
    assert time.process_time() - start < 10
    ok = b"L" + struct.pack("<I", 90_000) + item * 90_000   # a long honest list still decodes
    assert len(codec.Decoder(ok).decode()) == 90_000


def test_notebooks_read_as_json_match_nbformat_and_can_be_edited(tmp_path):
    """``course.read_notebook`` (no nbformat import) gives what nbformat gives, and its nodes take attribute edits."""
    import nbformat

    from course_grading import course

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("x = 1\ny = 2\n")]
    nb.cells[1].metadata["nbgrader"] = {"grade_id": "a", "solution": True}
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    raw = path.read_text()
    assert '"x = 1\\n",' in raw, "nbformat writes multi-line sources as lists of lines"
    mine, theirs = course.read_notebook(path), nbformat.read(path, as_version=4)
    assert [(c.cell_type, c.source, course.meta(c)) for c in mine.cells] == \
        [(c.cell_type, c.source, course.meta(c)) for c in theirs.cells]
    mine.cells[1].source = "x = 3"
    assert mine.cells[1]["source"] == "x = 3" and mine.cells[1].source == "x = 3"
    (tmp_path / "v3.ipynb").write_text('{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}')
    assert course.read_notebook(tmp_path / "v3.ipynb").nbformat == 4, "other formats go through nbformat"


def test_a_worker_that_stops_reading_cannot_block_the_judge():
    """A student's thread floods the judge with forged calls while the function sleeps: the judge's error replies fill
    the worker's input pipe, and writing to it must not block the judge past the notebook's deadline."""
    flood = ("import os, struct, threading, time\n"
             "def _flood():\n"
             "    body = b'U' + struct.pack('<I', 3) + b'S' + struct.pack('<Q', 4) + b'nope' + b'U' + bytes(4)"
             " + b'M' + bytes(4)\n"
             "    frame = struct.pack('<Q', len(body) + 1) + b'c' + body\n"
             "    for _ in range(20000):\n"
             "        for fd in range(3, 8):\n"
             "            try:\n                os.write(fd, frame)\n            except OSError:\n                pass\n"
             "def stall():\n"
             "    threading.Thread(target=_flood, daemon=True).start()\n"
             "    time.sleep(1000)\n")
    w, cells = _worker([("a", flood)], notebook_seconds=3)
    outcome = []

    def call():
        try:
            w.channel.call("stall")
        except BaseException as err:  # noqa: BLE001 - recorded for the assertion
            outcome.append(err)
    thread = threading.Thread(target=call, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(3 * sandbox.HARD_FACTOR + 20)
    stuck = thread.is_alive()
    w.stop()
    thread.join(10)
    assert not stuck, "the judge was still blocked writing to a worker that does not read"
    assert outcome and isinstance(outcome[0], sandbox.WorkerStopped) and "time limit" in str(outcome[0]), outcome
    assert time.monotonic() - start < 3 * sandbox.HARD_FACTOR + 20


def test_a_cgroup_no_child_can_join_is_not_used(monkeypatch):
    """Where a child cannot join the cgroup (its shell would exit and no worker would start), there is none."""
    import subprocess

    probe = cgroups.pids_cgroup(5)
    if probe is None:
        pytest.skip("no writable pids cgroup here")
    cgroups.remove_cgroup(probe)
    made = []
    real_mkdir = type(probe).mkdir
    monkeypatch.setattr(type(probe), "mkdir", lambda self, *a, **k: (made.append(self), real_mkdir(self, *a, **k)))
    monkeypatch.setattr(cgroups, "_JOIN_WORKS", {})
    monkeypatch.setattr(cgroups.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, b"", b""))
    assert cgroups.pids_cgroup(5) is None
    assert made and not made[0].exists(), "the cgroup that could not be joined is removed"


def test_the_judge_leaves_torchs_optimizer_wrappers_as_it_found_them():
    """The judge skips torch._dynamo's import while it runs tests, and undoes that afterwards."""
    from course_grading import judge
    from course_grading.course import NotebookSpec, TestCell

    source = ("w = torch.nn.Parameter(torch.ones(3))\nopt = torch.optim.SGD([w], lr=0.5)\nw.grad = torch.ones(3)\n"
              "opt.step()\nopt.zero_grad()\nassert torch.equal(w.detach(), torch.full((3,), 0.5))\n")
    spec = NotebookSpec("nb.ipynb", setup=["import torch"], tests=[TestCell("t", 1, source, False)])
    assert [v.passed for v in judge.run_tests(spec)[0]] == [True]
    wrapped = [getattr(v, "__wrapped__", None) for v in vars(torch.optim.Optimizer).values()]
    assert all(getattr(w, "__dynamo_disable", None) is not w for w in wrapped if w is not None)
