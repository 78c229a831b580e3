"""Grading of the course's nbgrader assignments: students' code and the verdict never share a process.

Modules (each one concern): :mod:`intake` (reading a class's submissions), :mod:`rules` (the course's only static
rule), :mod:`judge` (running the tests, never student code), beneath it :mod:`isolation` (the student's worker under
bubblewrap with named limits, and the plain data and calls that cross to it), :mod:`grade` (a grading run, step by
step), :mod:`gradebook` (nbgrader as the record), :mod:`report` (the outputs besides the record), :mod:`feedback`,
:mod:`authoring` (sources -> solution notebooks), :mod:`cli` (``python -m course_grading``).

This file must stay free of imports: the worker imports the package inside the sandbox.
"""
