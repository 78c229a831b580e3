"""Running a student's code apart from the grader: the one boundary between the two.

:mod:`.sandbox` starts the worker under bubblewrap with named limits (:class:`~.sandbox.Limits`) and owns it while
it runs (:class:`~.sandbox.Worker`: its process, clocks, cgroups and its end of the channel); :mod:`.cgroups` holds
what the kernel bounds and counts for it. :mod:`.worker` is the student side, which runs the notebook's cells and
answers calls. Between the two, :mod:`.codec` encodes the plain values that may cross and :mod:`.channel` carries
calls both ways. The judge (:mod:`course_grading.judge`) is the only module of the grader that imports it; the rest
of the grader starts workers through ``judge.start_worker`` and names limits as ``judge.Limits``.

This file must stay free of imports: the worker imports it inside the sandbox, which binds only the worker's side
(``sandbox.WORKER_SIDE``).
"""
