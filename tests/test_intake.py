"""Intake: every layout x every assignment's notebook name x awkward student ids, as a folder and as a zip.

The trees are written here by small writers that follow each layout's documented naming (not by the reader under
test); every notebook file carries its owner and version in its content, so a merged, dropped or renamed student
shows up as a wrong owner, a missing key or an extra key.
"""
import json
import os
import time
import zipfile
from pathlib import Path

import pytest
from _layouts import canvas_name, moodle_prefix

from course_grading.intake import scan as intake_scan
from course_grading.intake import AmbiguousLayout, read_submissions

ROOT = Path(__file__).resolve().parents[1]
RELEASES = sorted((p.parent.name, p.name) for p in (ROOT / "exercises").glob("*/*.ipynb"))
# underscore, dot, hyphen, digits only, leading zeros, non-ASCII letters, other scripts, mixtures
IDS = ["alice", "bob_smith", "j.doe", "mary-jane", "s1234567", "0042", "josé.garcía_2", "李雷", "o_brien-3.x",
       "अनिल_2", "ana+1@uni.edu"]
OLD = time.time() - 7200
NEW = time.time() - 60


def test_release_notebooks_are_found():
    assert len(RELEASES) >= 9 and any("_" in nb for _, nb in RELEASES)


def _put(root: Path, rel: str, text: str, mtime: float = NEW):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))


def _nb(owner: str, version: str) -> str:
    return json.dumps({"owner": owner, "version": version})


# ------------------------------------------------------------------------------------- layout writers
# Each writer fills `root` with one class and returns {expected student id: notebook expected graded version}
# plus the names of files that must be ignored and the late students.

def write_folders(root, assignment, nb):
    expected, extras, late = {}, [], set()
    for k, sid in enumerate(IDS):
        where = f"{sid}/work/{nb}" if k % 3 == 1 else f"{sid}/{nb}"        # one level deeper for some
        _put(root, where, _nb(sid, "final"))
        if k % 4 == 0:                                                     # an older copy: superseded
            _put(root, f"{sid}/{nb[:-6]} (1).ipynb", _nb(sid, "old"), OLD)
            extras.append(f"{sid}/{nb[:-6]} (1).ipynb")
        _put(root, f"{sid}/{nb[:-6]}.py", "print('not graded')")            # same stem, not a notebook
        _put(root, f"{sid}/.ipynb_checkpoints/{nb[:-6]}-checkpoint.ipynb", _nb(sid, "checkpoint"))
        extras += [f"{sid}/{nb[:-6]}.py", f"{sid}/.ipynb_checkpoints/{nb[:-6]}-checkpoint.ipynb"]
        expected[sid] = "final"
    (root / "empty_student").mkdir()                                       # a student who handed in nothing
    expected["empty_student"] = None
    return expected, extras, late


def write_nbgrader(root, assignment, nb):
    expected, extras, late = {}, [], set()
    for k, sid in enumerate(IDS):
        _put(root, f"{sid}/{assignment}/{nb}", _nb(sid, "final"))
        _put(root, f"{sid}/{assignment}/timestamp.txt", f"2026-11-{10 + k:02d} 09:30:00.000000 UTC")
        _put(root, f"{sid}/{assignment}/notes.html", "<p>notes</p>")
        _put(root, f"{sid}/other-assignment/{nb}", _nb(sid, "other assignment"))
        extras += [f"{sid}/{assignment}/timestamp.txt", f"{sid}/{assignment}/notes.html",
                   f"{sid}/other-assignment/{nb}"]
        expected[sid] = "final"
    return expected, extras, late


def write_canvas(root, assignment, nb):
    expected, extras, late = {}, [], set()
    for k, display in enumerate(IDS):
        uid, att = str(1000 + k), 5000 + 10 * k
        name = canvas_name(display) + ("_LATE" if k % 3 == 0 else "")     # josé.garcía_2 and अनिल_2 are late:
        if k % 3 == 0:                                                    # _LATE ends the name, one reading
            late.add(uid)
        if k % 4 == 0:   # uploaded twice: Canvas calls the second one <stem>-1.ipynb
            _put(root, f"{name}_{uid}_{att}_{nb}", _nb(uid, "old"))
            _put(root, f"{name}_{uid}_{att + 1}_{nb[:-6]}-1.ipynb", _nb(uid, "final"), OLD)  # mtime must not matter
            extras.append(f"{name}_{uid}_{att}_{nb}")
        else:
            _put(root, f"{name}_{uid}_{att}_{nb}", _nb(uid, "final"))
        _put(root, f"{name}_{uid}_{att + 2}_{nb[:-6]}.py", "print('not graded')")
        extras.append(f"{name}_{uid}_{att + 2}_{nb[:-6]}.py")
        expected[uid] = "final"
    _put(root, f"anon_x7Kq2_6001_{nb}", _nb("anon_x7Kq2", "final"))        # anonymous grading: no name part
    expected["anon_x7Kq2"] = "final"
    _put(root, "ghost_1999_text.html", "<p>typed answer</p>")               # a text entry: a student, no notebook
    extras.append("ghost_1999_text.html")
    expected["1999"] = None
    # a name ending in _<digits>, not late: also readable as user 2's "7000_<nb>" and nothing rules either out,
    # so the file is ignored (naming both readings) and counts for nobody
    _put(root, f"smith_2_1900_7000_{nb}", _nb("1900", "final"))
    extras.append(f"smith_2_1900_7000_{nb}")
    # the attack: user 1998 uploads "x_1001_999999_<nb>"; user 1001's own file tells 1001's prefix, so the
    # attacker's file is 1998's (not a notebook of the assignment) and 1001 keeps its own notebook
    _put(root, f"mallory_1998_7001_x_1001_999999_{nb}", _nb("1998", "attack"))
    extras.append(f"mallory_1998_7001_x_1001_999999_{nb}")
    expected["1998"] = None
    return expected, extras, late


def write_moodle_folders(root, assignment, nb):
    expected, extras, late = {}, [], set()
    for k, display in enumerate(IDS):
        pid = str(300 + k)
        folder = f"{moodle_prefix(display, pid)}_assignsubmission_file_"
        _put(root, f"{folder}/{nb}", _nb(pid, "final"))
        _put(root, f"{folder}/data/readme.txt", "a file in a subfolder")
        _put(root, f"{moodle_prefix(display, pid)}_assignsubmission_onlinetext_/onlinetext.html", "<p>hi</p>")
        extras += [f"{folder}/data/readme.txt",
                   f"{moodle_prefix(display, pid)}_assignsubmission_onlinetext_/onlinetext.html"]
        expected[pid] = "final"
    folder = "Participant_399_assignsubmission_file_"                      # blind marking
    _put(root, f"{folder}/{nb}", _nb("399", "final"))
    expected["399"] = "final"
    return expected, extras, late


def write_moodle_flat(root, assignment, nb):
    expected, extras, late = {}, [], set()
    for k, display in enumerate(IDS):
        pid = str(300 + k)
        prefix = f"{moodle_prefix(display, pid)}_assignsubmission_file_"
        _put(root, prefix + nb, _nb(pid, "final"))
        _put(root, prefix + "helper.py", "x = 1")
        extras.append(prefix + "helper.py")
        expected[pid] = "final"
    return expected, extras, late


WRITERS = {"folders": (write_folders, "folders"), "nbgrader": (write_nbgrader, "nbgrader"),
           "canvas": (write_canvas, "canvas"), "moodle-folders": (write_moodle_folders, "moodle"),
           "moodle-flat": (write_moodle_flat, "moodle")}


def _class(tmp_path, writer, assignment, nb, as_zip, wrapper=None):
    tree = tmp_path / "tree"
    inner = tree / wrapper if wrapper else tree
    inner.mkdir(parents=True)
    expected, extras, late = WRITERS[writer][0](inner, assignment, nb)
    # operating-system clutter a real download carries
    _put(tree, ".DS_Store", "x")
    _put(tree, "__MACOSX/._" + (wrapper or "x"), "x")
    junk = [".DS_Store", "__MACOSX/._" + (wrapper or "x")]
    prefix = f"{wrapper}/" if wrapper else ""
    extras = [prefix + e for e in extras] + junk
    n_files = sum(1 for p in tree.rglob("*") if p.is_file())
    if not as_zip:
        return tree, expected, extras, late, n_files
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(tree.rglob("*")):
            zf.write(p, p.relative_to(tree).as_posix())   # folders too (as real zips do)
    return archive, expected, extras, late, n_files


def _check(result, expected, extras, late, n_files, nb, layout):
    assert result.layout == layout
    assert set(result.students) == set(expected), "a student was merged, dropped or renamed"
    for sid, version in expected.items():
        sub = result.students[sid]
        assert sub.student == sid
        if version is None:
            assert sub.notebooks == {}
            continue
        assert set(sub.notebooks) == {nb}
        content = json.loads(sub.notebooks[nb].read_text(encoding="utf-8"))
        assert content == {"owner": sid, "version": version}
        assert sub.late == (sid in late)
    graded = sum(len(s.notebooks) for s in result.students.values())
    assert result.files_found == n_files == graded + len(result.ignored)
    ignored = {i.path for i in result.ignored}
    assert set(extras) <= ignored
    assert all(i.reason for i in result.ignored)
    assert {i.student for i in result.ignored} <= set(expected) | {None}


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("assignment,nb", RELEASES, ids=[a for a, _ in RELEASES])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_every_layout_reads_every_student(tmp_path, writer, assignment, nb, as_zip):
    source, expected, extras, late, n_files = _class(tmp_path, writer, assignment, nb, as_zip)
    others = [n for _, n in RELEASES if n != nb][:2]      # a multi-notebook release list must not confuse it
    result = read_submissions(source, assignment, [nb] + others, scratch=tmp_path / "scratch")
    _check(result, expected, extras, late, n_files, nb, WRITERS[writer][1])
    if writer == "nbgrader":
        assert result.students["alice"].submitted_at == "2026-11-10T09:30:00+00:00"
    # the explicit flag gives the same reading
    again = read_submissions(source, assignment, [nb], scratch=tmp_path / "scratch2", layout=WRITERS[writer][1])
    assert {s: sorted(v.notebooks) for s, v in again.students.items()} == \
           {s: sorted(v.notebooks) for s, v in result.students.items()}


@pytest.mark.parametrize("writer,wrapper", [("folders", "class-2026"), ("nbgrader", "submitted"),
                                            ("canvas", "downloads"), ("moodle-folders", "export")])
@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_a_class_inside_one_wrapper_folder(tmp_path, writer, wrapper, as_zip):
    assignment, nb = "06-adam-adamw", "adam_adamw.ipynb"
    source, expected, extras, late, n_files = _class(tmp_path, writer, assignment, nb, as_zip, wrapper)
    result = read_submissions(source, assignment, [nb], scratch=tmp_path / "scratch")
    _check(result, expected, extras, late, n_files, nb, WRITERS[writer][1])


# ------------------------------------------------------------------------------------- the cases that bit
@pytest.mark.parametrize("nb", ["adam_adamw.ipynb", "gradient_descent.ipynb"])
def test_old_bug_student_folders_with_underscored_notebooks_are_folders(tmp_path, nb):
    for sid in ("alice", "bob"):
        _put(tmp_path / "subs", f"{sid}/{nb}", _nb(sid, "final"))
    result = read_submissions(tmp_path / "subs", "x", [nb], scratch=tmp_path / "s")
    assert result.layout == "folders"
    assert sorted(result.students) == ["alice", "bob"]
    for sid in ("alice", "bob"):
        assert json.loads(result.students[sid].notebooks[nb].read_text())["owner"] == sid
    assert result.ignored == [] and result.files_found == 2


def test_a_py_file_beside_the_notebook_is_not_graded(tmp_path):
    _put(tmp_path / "subs", "alice/adam_adamw.ipynb", _nb("alice", "final"), OLD)
    _put(tmp_path / "subs", "alice/reference_impl.py", "import torch", NEW)      # newer, still not graded
    _put(tmp_path / "subs", "bob/adam_adamw.py", "print(1)")                      # only a .py: bob stays, 0 notebooks
    result = read_submissions(tmp_path / "subs", "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert result.students["alice"].notebooks["adam_adamw.ipynb"].name == "adam_adamw.ipynb"
    assert result.students["bob"].notebooks == {}
    assert {i.path for i in result.ignored} == {"alice/reference_impl.py", "bob/adam_adamw.py"}


def test_latest_copy_wins_and_the_others_are_listed(tmp_path):
    root = tmp_path / "subs"
    _put(root, "alice/adam_adamw.ipynb", _nb("alice", "old"), OLD)
    _put(root, "alice/hw6/adam_adamw.ipynb", _nb("alice", "final"), NEW)
    result = read_submissions(root, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert json.loads(result.students["alice"].notebooks["adam_adamw.ipynb"].read_text())["version"] == "final"
    (old,) = result.ignored
    assert old.path == "alice/adam_adamw.ipynb" and "superseded by alice/hw6/adam_adamw.ipynb" in old.reason
    tie, note = result.students["alice"].notes
    assert "2 files are equally the exact release name" in tie and "graded the last by path" in tie
    assert note.startswith("graded alice/hw6/adam_adamw.ipynb (the exact release name)")
    assert "; superseded alice/adam_adamw.ipynb (the exact release name)" in note


def test_the_exact_release_name_beats_a_copy_written_later(tmp_path):
    """Modification times decide nothing: ``adam_adamw (1).ipynb`` written after ``adam_adamw.ipynb`` is still the
    copy; the exact release name is graded, and the note says why."""
    root = tmp_path / "subs"
    _put(root, "alice/adam_adamw.ipynb", _nb("alice", "final"), OLD)
    _put(root, "alice/adam_adamw (1).ipynb", _nb("alice", "old"), NEW)
    _put(root, "bob/adam_adamw (1).ipynb", _nb("bob", "old"), NEW)
    _put(root, "bob/adam_adamw (2).ipynb", _nb("bob", "final"), OLD)
    result = read_submissions(root, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    for sid in ("alice", "bob"):
        assert json.loads(result.students[sid].notebooks["adam_adamw.ipynb"].read_text())["version"] == "final"
    assert result.students["alice"].notes == [
        "graded alice/adam_adamw.ipynb (the exact release name); superseded alice/adam_adamw (1).ipynb (copy 1)"]
    assert "graded bob/adam_adamw (2).ipynb (copy 2)" in result.students["bob"].notes[0]


# ------------------------------------------------------------------------------------- ambiguity
def _canvas_plus_folders(root):
    _put(root, "smith_1001_5001_adam_adamw.ipynb", _nb("1001", "final"))
    _put(root, "jones_1002_5002_adam_adamw.ipynb", _nb("1002", "final"))
    _put(root, "alice/adam_adamw.ipynb", _nb("alice", "final"))


def test_a_tree_with_two_readings_stops_and_names_them(tmp_path):
    _canvas_plus_folders(tmp_path / "subs")
    with pytest.raises(AmbiguousLayout) as err:
        read_submissions(tmp_path / "subs", "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert sorted(err.value.readings) == ["canvas", "folders"]
    assert "--layout canvas" in str(err.value) and "--layout folders" in str(err.value)
    assert "1001" in str(err.value) and "alice" in str(err.value)


@pytest.mark.parametrize("layout,students", [("canvas", ["1001", "1002"]), ("folders", ["alice"])])
def test_the_layout_flag_picks_a_reading_and_accounts_for_the_rest(tmp_path, layout, students):
    _canvas_plus_folders(tmp_path / "subs")
    result = read_submissions(tmp_path / "subs", "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s",
                              layout=layout)
    assert result.layout == layout and sorted(result.students) == students
    assert result.files_found == 3 == len(students) + len(result.ignored)


def test_one_student_inside_a_wrapper_is_ambiguous(tmp_path):
    # "subs" could be a student who kept the notebook in a folder "alice", or a wrapper around student alice
    _put(tmp_path / "tree", "subs/alice/adam_adamw.ipynb", _nb("?", "final"))
    with pytest.raises(AmbiguousLayout) as err:
        read_submissions(tmp_path / "tree", "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert sorted(err.value.readings) == ["folders", "folders inside subs/"]


def test_a_student_missing_the_assignment_level_is_not_dropped(tmp_path):
    root = tmp_path / "subs"
    _put(root, "alice/06-adam-adamw/adam_adamw.ipynb", _nb("alice", "final"))
    _put(root, "bob/adam_adamw.ipynb", _nb("bob", "final"))
    result = read_submissions(root, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert sorted(result.students) == ["alice", "bob"]      # the reading that reads both wins


def test_moodle_blind_marking_folders_are_not_student_folders(tmp_path):
    root = tmp_path / "subs"
    _put(root, "Participant_17_assignsubmission_file_/adam_adamw.ipynb", _nb("17", "final"))
    _put(root, "Participant_18_assignsubmission_file_/adam_adamw.ipynb", _nb("18", "final"))
    result = read_submissions(root, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert result.layout == "moodle" and sorted(result.students) == ["17", "18"]


def test_no_layout_fits(tmp_path):
    _put(tmp_path / "subs", "alice/answers.py", "x = 1")
    with pytest.raises(ValueError, match="no layout"):
        read_submissions(tmp_path / "subs", "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")


@pytest.mark.parametrize("kwargs,name", [({"layout": "blackboard"}, "layout"), ({"notebooks": ["a.py"]}, "notebooks"),
                                         ({"assignment": "../x"}, "assignment")])
def test_bad_arguments_are_named(tmp_path, kwargs, name):
    (tmp_path / "subs").mkdir()
    args = {"assignment": "06-adam-adamw", "notebooks": ["adam_adamw.ipynb"], **kwargs}
    with pytest.raises(ValueError, match=name):
        read_submissions(tmp_path / "subs", args["assignment"], args["notebooks"], scratch=tmp_path / "s",
                         layout=args.get("layout"))


# ------------------------------------------------------------------------------------- Canvas names
def _canvas_class(root, files):
    """files: Canvas file name -> owner written into the notebook (the writer knows whose each file is)."""
    for name, owner in files.items():
        _put(root, name, _nb(owner, name))
    return read_submissions(root, "02-gradient-descent", ["gradient_descent.ipynb"], scratch=root.parent / "s")


def _owner(result, sid):
    return json.loads(result.students[sid].notebooks["gradient_descent.ipynb"].read_text())["owner"]


ATTACK = "mallory_999_111_x_1234_999999_gradient_descent.ipynb"     # user 999 uploaded x_1234_999999_gradient...


def test_canvas_attack_a_file_never_counts_for_another_students_id(tmp_path):
    result = _canvas_class(tmp_path / "subs", {"jones_1234_5555_gradient_descent.ipynb": "1234", ATTACK: "999"})
    assert _owner(result, "1234") == "1234"                       # 1234 keeps its own file; nothing superseded
    assert result.students["1234"].notes == [] and result.students["999"].notebooks == {}
    (bad,) = result.ignored
    assert (bad.path, bad.student) == (ATTACK, "999") and "not one of this assignment's" in bad.reason
    assert result.files_found == 2 == 1 + len(result.ignored)


def test_canvas_attack_without_the_victims_file_is_ignored_naming_both_readings(tmp_path):
    # nothing tells user 1234's prefix: the file can be 999's "x_1234_..." or 1234's notebook; never guessed
    result = _canvas_class(tmp_path / "subs", {ATTACK: "999", "ann_1001_5001_gradient_descent.ipynb": "1001"})
    assert sorted(result.students) == ["1001"] and _owner(result, "1001") == "1001"
    (bad,) = result.ignored
    assert bad.path == ATTACK and bad.student is None
    assert "user 999's 'x_1234_999999_gradient_descent.ipynb' (file id 111)" in bad.reason
    assert "user 1234's 'gradient_descent.ipynb' (file id 999999)" in bad.reason


@pytest.mark.parametrize("with_victim", [True, False], ids=["victim-submitted", "victim-absent"])
def test_canvas_attack_with_late_tags(tmp_path, with_victim):
    files = {"ann_1001_5001_gradient_descent.ipynb": "1001",
             # a late attacker: _LATE ends the name, so the file has one reading (999's), whatever follows
             "mallory_LATE_999_111_x_1234_999999_gradient_descent.ipynb": "999",
             # the attacker imitates a late victim inside the original name
             "eve_998_112_x_LATE_1234_999998_gradient_descent.ipynb": "998"}
    if with_victim:
        files["jones_LATE_1234_5555_gradient_descent.ipynb"] = "1234"
    result = _canvas_class(tmp_path / "subs", files)
    reasons = {i.path: (i.student, i.reason) for i in result.ignored}
    assert reasons["mallory_LATE_999_111_x_1234_999999_gradient_descent.ipynb"][0] == "999"
    assert result.students["999"].late and result.students["999"].notebooks == {}
    eve = reasons["eve_998_112_x_LATE_1234_999998_gradient_descent.ipynb"]
    if with_victim:
        assert _owner(result, "1234") == "1234" and result.students["1234"].late
        assert eve[0] == "998" and "not one of this assignment's" in eve[1]
    else:
        assert "1234" not in result.students and eve[0] is None
        assert "user 998's" in eve[1] and "user 1234's 'gradient_descent.ipynb' (file id 999998)" in eve[1]
    assert result.files_found == len(files) == sum(len(s.notebooks) for s in result.students.values()) + \
        len(result.ignored)


def test_canvas_anonymous_grading(tmp_path):
    result = _canvas_class(tmp_path / "subs", {
        "anon_x7Kq2_6001_gradient_descent.ipynb": "anon_x7Kq2",
        "LATE_anon_Ab3De_6002_gradient_descent.ipynb": "anon_Ab3De",
        "anon_Zz9Yy_6003_x_anon_x7Kq2_999999_gradient_descent.ipynb": "anon_Zz9Yy",   # no name part to stretch
    })
    assert sorted(result.students) == ["anon_Ab3De", "anon_Zz9Yy", "anon_x7Kq2"]
    assert _owner(result, "anon_x7Kq2") == "anon_x7Kq2" and _owner(result, "anon_Ab3De") == "anon_Ab3De"
    assert result.students["anon_Ab3De"].late and not result.students["anon_x7Kq2"].late
    assert [(i.path, i.student) for i in result.ignored] == [
        ("anon_Zz9Yy_6003_x_anon_x7Kq2_999999_gradient_descent.ipynb", "anon_Zz9Yy")]


def test_canvas_name_ending_in_digits_is_ambiguous(tmp_path):
    # user 1001 named "smith_2", or user 2 named "smith" who uploaded "5001_gradient_descent.ipynb"
    result = _canvas_class(tmp_path / "subs", {"smith_2_1001_5001_gradient_descent.ipynb": "1001",
                                               "smith_2_1001_5002_notes.txt": "1001",
                                               "ann_1003_5003_gradient_descent.ipynb": "1003"})
    assert sorted(result.students) == ["1003"]
    reasons = {i.path: (i.student, i.reason) for i in result.ignored}
    student, reason = reasons["smith_2_1001_5001_gradient_descent.ipynb"]
    assert student is None and "read in 2 ways" in reason and "rename it" in reason
    assert "user 2's '5001_gradient_descent.ipynb' (file id 1001)" in reason
    assert "user 1001's 'gradient_descent.ipynb' (file id 5001)" in reason
    assert reasons["smith_2_1001_5002_notes.txt"][0] is None
    assert result.files_found == 3 == 1 + len(result.ignored)
    # the instructor's fix (instructors.md): rename every file with that prefix so that one reading is left
    root = tmp_path / "subs"
    for name in ("smith_2_1001_5001_gradient_descent.ipynb", "smith_2_1001_5002_notes.txt"):
        (root / name).rename(root / name.replace("smith_2_", "smith2_"))
    again = read_submissions(root, "02-gradient-descent", ["gradient_descent.ipynb"], scratch=tmp_path / "s2")
    assert sorted(again.students) == ["1001", "1003"] and _owner(again, "1001") == "1001"
    assert [(i.path, i.student) for i in again.ignored] == [("smith2_1001_5002_notes.txt", "1001")]


@pytest.mark.parametrize("files,owners", [
    # _LATE ends the name: one reading
    ({"smith_2_LATE_1001_5001_gradient_descent.ipynb": "1001"}, {"1001"}),
    # user 2's own file tells its prefix ("jones_2"), so "smith_2..." cannot be user 2's
    ({"smith_2_1001_5001_gradient_descent.ipynb": "1001", "jones_2_5002_gradient_descent.ipynb": "2"},
     {"1001", "2"}),
    # a name of digits only: a named prefix always has its name, so the first number is not a user id
    ({"0042_1005_5050_gradient_descent.ipynb": "1005"}, {"1005"}),
], ids=["late", "other-reading-ruled-out", "numeric-name"])
def test_canvas_name_ending_in_digits_with_one_possible_reading(tmp_path, files, owners):
    result = _canvas_class(tmp_path / "subs", files)
    assert set(result.students) == owners and result.ignored == []
    assert all(_owner(result, sid) == sid for sid in owners)


def test_canvas_files_that_disagree_about_a_prefix_settle_nothing(tmp_path):
    # two exports merged (before and after the due date): user 1001 has two prefixes, so it is not one Canvas
    # export for 1001 and nothing rules out a reading of "smith_2_1001_..." (no phantom user 2 appears)
    result = _canvas_class(tmp_path / "subs", {"ann_1001_5001_gradient_descent.ipynb": "1001",
                                               "ann_LATE_1001_5002_gradient_descent.ipynb": "1001",
                                               "smith_2_1001_5004_notes.txt": "1001"})
    assert sorted(result.students) == ["1001"]
    assert {i.path: i.student for i in result.ignored}["smith_2_1001_5004_notes.txt"] is None


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_canvas_copies_are_ordered_by_file_id_never_by_time(tmp_path, as_zip):
    # the higher file id (uploaded later) has the older-looking name (no -1) and the older modification time
    newer, older = "ann_1001_5009_gradient_descent.ipynb", "ann_1001_5003_gradient_descent-1.ipynb"
    root = tmp_path / "subs"
    _put(root, newer, _nb("1001", "final"), OLD)
    _put(root, older, _nb("1001", "old"), NEW)
    source = root
    if as_zip:
        source = tmp_path / "class.zip"
        with zipfile.ZipFile(source, "w") as zf:
            for name in (older, newer):
                zf.write(root / name, name)
    result = read_submissions(source, "02-gradient-descent", ["gradient_descent.ipynb"], scratch=tmp_path / "s")
    sub = result.students["1001"]
    assert json.loads(sub.notebooks["gradient_descent.ipynb"].read_text())["version"] == "final"
    assert sub.notes == [f"graded {newer} (file id 5009); superseded {older} (file id 5003)"]
    (old,) = result.ignored
    assert (old.path, old.student) == (older, "1001") and f"superseded by {newer} (file id 5009)" in old.reason


# ------------------------------------------------------------------------------------- zip safety
def _raw_zip(path: Path, entries):
    """entries: (name, data, unix mode or None); names written as given."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 1, 12, 0, 0))
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)


def test_unsafe_archive_entries_are_listed_not_extracted(tmp_path):
    archive = tmp_path / "class.zip"
    _raw_zip(archive, [("alice/adam_adamw.ipynb", _nb("alice", "final"), None),
                       ("/etc/evil.ipynb", "x", None),
                       ("bob/../../evil.ipynb", "x", None),
                       ("bob/adam_adamw.ipynb", "/etc/passwd", 0o120777),   # a symbolic link
                       ("carol/adam_adamw.ipynb", _nb("carol", "final"), None)])
    scratch = tmp_path / "scratch"
    result = read_submissions(archive, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=scratch)
    assert sorted(result.students) == ["alice", "bob", "carol"]
    assert result.students["bob"].notebooks == {}               # bob only sent a link: listed, nothing graded
    reasons = {i.path: i.reason for i in result.ignored}
    assert "absolute" in reasons["etc/evil.ipynb"] and "'..'" in reasons["bob/../../evil.ipynb"]
    assert "symbolic link" in reasons["bob/adam_adamw.ipynb"]
    assert result.files_found == 5 == 2 + len(result.ignored)
    assert not (tmp_path / "evil.ipynb").exists() and not any(p.is_symlink() for p in scratch.rglob("*"))
    assert all(scratch in p.parents for s in result.students.values() for p in s.notebooks.values())


def test_size_and_count_caps(tmp_path, monkeypatch):
    archive = tmp_path / "class.zip"
    _raw_zip(archive, [("alice/adam_adamw.ipynb", _nb("alice", "final"), None),
                       ("bob/adam_adamw.ipynb", "x" * 5000, None)])
    monkeypatch.setattr(intake_scan, "MAX_MEMBER_BYTES", 1000)
    result = read_submissions(archive, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert "larger than" in {i.path: i.reason for i in result.ignored}["bob/adam_adamw.ipynb"]
    monkeypatch.setattr(intake_scan, "MAX_MEMBERS", 1)
    with pytest.raises(ValueError, match="entries"):
        read_submissions(archive, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")


def _patch_names(archive: Path, placeholder: bytes, raw: bytes, clear_utf8_flag: bool):
    """Replace a file name's bytes in a zip (local and central headers) and optionally clear the UTF-8 flag."""
    data = bytearray(archive.read_bytes())
    assert len(placeholder) == len(raw) and data.count(placeholder) == 2
    data = bytearray(bytes(data).replace(placeholder, raw))
    if clear_utf8_flag:
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = data.find(sig)
            while i != -1:
                data[i + off + 1] &= ~0x08 & 0xFF     # bit 11 of the general purpose flags
                i = data.find(sig, i + 4)
    archive.write_bytes(bytes(data))


def test_non_utf8_and_unflagged_utf8_names(tmp_path):
    archive = tmp_path / "class.zip"
    # josé as UTF-8 bytes without the UTF-8 flag (Info-ZIP, macOS), and müller in cp437 (the zip format's default)
    _raw_zip(archive, [("josXX/adam_adamw.ipynb", _nb("josé", "final"), None),
                       ("mYller/adam_adamw.ipynb", _nb("müller", "final"), None)])
    _patch_names(archive, b"josXX/", "josé/".encode("utf-8"), clear_utf8_flag=True)
    _patch_names(archive, b"mYller/", "müller/".encode("cp437"), clear_utf8_flag=True)
    result = read_submissions(archive, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert sorted(result.students) == ["josé", "müller"]
    for sid, sub in result.students.items():
        assert json.loads(sub.notebooks["adam_adamw.ipynb"].read_text())["owner"] == sid


def test_unicode_forms_of_one_name_are_not_merged_silently(tmp_path):
    root = tmp_path / "subs"
    _put(root, "jos\u00e9/adam_adamw.ipynb", _nb("NFC", "final"))
    _put(root, "jose\u0301/adam_adamw.ipynb", _nb("NFD", "final"))
    _put(root, "ana/adam_adamw.ipynb", _nb("ana", "final"))
    result = read_submissions(root, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert sorted(result.students) == ["ana"]
    assert sum("differ only in Unicode form" in i.reason for i in result.ignored) == 2


def test_symlinks_in_a_folder_are_not_followed(tmp_path):
    root = tmp_path / "subs"
    _put(root, "alice/adam_adamw.ipynb", _nb("alice", "final"))
    (root / "bob").mkdir()
    (root / "bob" / "adam_adamw.ipynb").symlink_to(root / "alice" / "adam_adamw.ipynb")
    (root / "eve").symlink_to(root / "alice")
    result = read_submissions(root, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert sorted(result.students) == ["alice", "bob"] and result.students["bob"].notebooks == {}
    assert {i.path for i in result.ignored} == {"bob/adam_adamw.ipynb", "eve"}
    assert result.files_found == 3


def test_a_folder_name_that_is_not_utf8_is_listed_printably(tmp_path):
    root = tmp_path / "subs"
    _put(root, "ana/adam_adamw.ipynb", _nb("ana", "final"))
    os.makedirs(os.fsencode(root) + b"/jos\xe9")
    with open(os.fsencode(root) + b"/jos\xe9/adam_adamw.ipynb", "w") as fh:
        fh.write(_nb("?", "final"))
    result = read_submissions(root, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert sorted(result.students) == ["ana"]
    (bad,) = result.ignored
    assert bad.path == "jos\\xe9/adam_adamw.ipynb" and "not a usable student id" in bad.reason
    json.dumps([bad.path, bad.reason]).encode("utf-8")          # printable, storable


def test_ignored_files_name_their_student_where_the_layout_says(tmp_path):
    root = tmp_path / "subs"
    _put(root, "bob_smith_1001_5001_adam_adamw.ipynb", _nb("1001", "final"))
    _put(root, "bob_smith_1001_5002_adam_adamw.py", "x = 1")
    _put(root, "bob_smith_1001_5003_adam_adamw-1.ipynb", _nb("1001", "final"))
    _put(root, "stray.txt", "x")
    result = read_submissions(root, "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s")
    assert result.students["1001"].notebooks["adam_adamw.ipynb"].name.endswith("-1.ipynb")
    assert {(i.path, i.student) for i in result.ignored} == {
        ("bob_smith_1001_5001_adam_adamw.ipynb", "1001"), ("bob_smith_1001_5002_adam_adamw.py", "1001"),
        ("stray.txt", None)}


def test_an_assignment_with_two_notebooks(tmp_path):
    root, nbs = tmp_path / "subs", ["part_one.ipynb", "part_two.ipynb"]
    _put(root, "alice/part_one.ipynb", _nb("alice", "one"))
    _put(root, "alice/part_two.ipynb", _nb("alice", "two"))
    _put(root, "bob/part_two.ipynb", _nb("bob", "two"))
    result = read_submissions(root, "x", nbs, scratch=tmp_path / "s")
    assert {s: sorted(v.notebooks) for s, v in result.students.items()} == {"alice": nbs, "bob": ["part_two.ipynb"]}
    assert json.loads(result.students["alice"].notebooks["part_one.ipynb"].read_text())["version"] == "one"


def test_a_layout_that_reads_nothing_accounts_for_every_file(tmp_path):
    _put(tmp_path / "subs", "alice/adam_adamw.ipynb", _nb("alice", "final"))
    _put(tmp_path / "subs", "bob/adam_adamw.ipynb", _nb("bob", "final"))
    result = read_submissions(tmp_path / "subs", "06-adam-adamw", ["adam_adamw.ipynb"], scratch=tmp_path / "s",
                              layout="moodle")
    assert result.students == {} and result.files_found == 2 == len(result.ignored)
