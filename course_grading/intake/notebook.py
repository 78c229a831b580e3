"""A submitted file read as a notebook: what nbformat can repair is repaired, anything else is a reason."""

from __future__ import annotations

import warnings
from pathlib import Path

import nbformat


def normalise(nb):
    """What nbformat can repair, repaired: cell ids in a notebook saved as format 4.4 (a common mix of Jupyter
    versions: the ids are what 4.5 added), missing or duplicated ids. Returns the repaired notebook."""
    import uuid

    from nbformat.validator import normalize

    if nb.get("nbformat") == 4 and nb.get("nbformat_minor", 0) < 5 and any("id" in c for c in nb.get("cells", [])):
        nb["nbformat_minor"] = 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, fixed = normalize(nb)
        fixed = nbformat.from_dict(fixed)
    seen = set()
    for cell in fixed.get("cells", []):   # duplicated ids: nbformat's own repair, done here without a warning
        if "id" in cell and cell["id"] in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell.get("id"))
    return fixed


def read_notebook(path: Path):
    """``(notebook, None)``, or ``(None, why)`` for a file that is not a readable notebook."""
    try:
        if path.stat().st_size == 0:
            return None, "not a readable notebook: the file is empty"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # nbformat warns of the ids that normalise repairs
            nb = normalise(nbformat.read(path, as_version=4))
            nbformat.validate(nb)
        return nb, None
    except Exception as err:  # noqa: BLE001 - any unreadable file
        why = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        return None, f"not a readable notebook: {type(err).__name__}: {why}"
