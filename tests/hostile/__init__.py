"""A class of hostile and honest submissions, built from an assignment's release and solution notebooks.

``corpus.build(dest, assignment)`` writes a folder per student and returns the list of :class:`corpus.Case`. Honest
cases carry the score the grader must give, derived from the source notebook's points (never a pasted number);
hostile cases must score no more than the untouched release.
"""
