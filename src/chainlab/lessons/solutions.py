"""A lesson notebook's exercise cells, and the notebook with their solutions put in.

An exercise cell carries the tag ``exercise`` and the metadata
``{"chainlab": {"exercise": "name"}}``; its solution is the ``solution`` of
``EXERCISES["name"]`` in the lesson's module (:mod:`chainlab.lessons.exercises`).
"""

from __future__ import annotations

import copy
from typing import Any

from chainlab.lessons.exercises import exercises, has_module


def exercise_name(cell: Any) -> str | None:
    """The exercise a cell holds the starter of, or None."""
    name = cell.get("metadata", {}).get("chainlab", {}).get("exercise")
    return name if isinstance(name, str) else None


def exercise_cells(nb: Any) -> list[tuple[int, str]]:
    """(cell index, exercise name) of every exercise cell, in order."""
    return [(i, n) for i, c in enumerate(nb.cells) if (n := exercise_name(c)) is not None]


def is_second_edition(nb: Any) -> bool:
    """A lesson converted to the exercise API: exercise cells named in metadata and no
    ``solution``-tagged cells left (the suite's new rules apply to it)."""
    tags = (set(c.get("metadata", {}).get("tags", [])) for c in nb.cells)
    return bool(exercise_cells(nb)) and not any("solution" in t for t in tags)


def with_solutions(nb: Any, lesson_id: str) -> Any:
    """A copy of ``nb`` whose exercise cells hold their solutions instead of the starters."""
    names = exercise_cells(nb)
    if not names:
        return copy.deepcopy(nb)
    if not has_module(lesson_id):
        raise LookupError(f"{lesson_id} has exercise cells but no exercise module")
    known = exercises(lesson_id)
    nb = copy.deepcopy(nb)
    for index, name in names:
        if name not in known:
            raise KeyError(
                f"{lesson_id} cell {index} names exercise {name!r}, which its module does "
                f"not hold (it holds: {', '.join(sorted(known)) or 'none'})"
            )
        nb.cells[index].source = known[name].solution.strip("\n")
    return nb
