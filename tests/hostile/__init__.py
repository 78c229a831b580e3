"""A corpus of hostile and broken submissions, built from an assignment's release and solution notebooks.

``build(dest, assignment, marker_dir, db_path)`` writes one learning-management-system export (flat folder,
``<student>_<notebook>.ipynb``) and returns the list of :class:`Case` it holds. Honest cases carry the score the
grader must give, derived from the source notebook's points (never a pasted number); hostile cases must score no
more than the untouched release.
"""
