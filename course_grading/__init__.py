"""Grading of the course's nbgrader assignments: students' code and the verdict never share a process.

Modules (each one concern): :mod:`intake` (reading a class's submissions), :mod:`rules` (the course's only static
rule), :mod:`wire` (plain data across the process boundary), :mod:`worker` and :mod:`sandbox` (running a student's
code under bubblewrap with limits), :mod:`judge` (running the tests, never student code), :mod:`gradebook` (nbgrader
as the record), :mod:`feedback`, :mod:`authoring` (sources -> solution notebooks), :mod:`pipeline` (nbgrader
driven from Python, for the tests), :mod:`cli` (``python -m course_grading``).

This file must stay free of imports: the worker imports the package inside the sandbox.
"""
