"""The course that ships with chainlab, and the learner's working copy of it.

A wheel carries the lessons and the demo notebooks as package data
(``chainlab/_course/lessons`` and ``chainlab/_course/notebooks``, copied there by the
build hook in ``setup.py``). A source checkout, or an editable install, uses the
checkout's ``lessons/`` and ``notebooks/`` directly.

``chainlab lab`` copies the course into a folder of the learner's (the lessons at its
top, the demos in ``notebooks/``) with :func:`sync_course`. The copy is the learner's:
a later run never overwrites a notebook they changed. It records what it wrote in
``.chainlab-course.json``, so it knows a file the learner never touched (that one is
brought up to date) from one they edited (that one stays; a newer version is written
beside it as ``<name>.chainlab-<version>.ipynb``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]
PACKAGED = _PACKAGE / "_course"
"""Where a wheel keeps the course."""
CHECKOUT = _PACKAGE.parents[1]
"""The repository root, when chainlab runs from a source checkout."""
MANIFEST = ".chainlab-course.json"


@dataclass(frozen=True)
class Course:
    """Where the course's notebooks are.

    Attributes:
        lessons: the folder of the lesson notebooks (``LC*.ipynb``) and their README.
        notebooks: the folder of the demo notebooks.
    """

    lessons: Path
    notebooks: Path

    def files(self) -> dict[str, Path]:
        """Every file to copy, by its path in the learner's folder (lessons at the top)."""
        out = {p.name: p for p in sorted(self.lessons.glob("LC*.ipynb"))}
        readme = self.lessons / "README.md"
        if readme.is_file():
            out["README.md"] = readme
        out.update({f"notebooks/{p.name}": p for p in sorted(self.notebooks.glob("*.ipynb"))})
        return out


def candidates() -> list[Path]:
    """The folders searched for the course, in order: the wheel's, then the checkout's."""
    return [PACKAGED, CHECKOUT]


def find_course() -> Course | None:
    """The installed course, or None if this installation has no lessons."""
    for root in candidates():
        lessons = root / "lessons"
        if any(lessons.glob("LC*.ipynb")):
            return Course(lessons, root / "notebooks")
    return None


def installed_lessons_dir() -> Path:
    """The installed lessons' folder (the wheel's first; a path that may not exist)."""
    course = find_course()
    return course.lessons if course else PACKAGED / "lessons"


@dataclass
class SyncReport:
    """What :func:`sync_course` did, file by file (paths relative to the folder)."""

    folder: Path
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    offered: dict[str, str] = field(default_factory=dict)
    """``{the learner's edited file: the newer version written beside it}``."""
    kept: list[str] = field(default_factory=list)
    """Edited files whose newer version was already offered (or edited too)."""

    def lines(self) -> list[str]:
        """A short account for the terminal."""
        out = []
        if self.added:
            out.append(f"copied {len(self.added)} files (lessons, demos) into {self.folder}")
        if self.updated:
            out.append(f"updated {len(self.updated)} files you had not changed")
        for mine, new in self.offered.items():
            out.append(f"you changed {mine}: the new version is beside it, as {new}")
        for mine in self.kept:
            out.append(f"you changed {mine} and the new version beside it: both kept")
        return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def offered_name(relative: str, version: str) -> str:
    """``LC2.1.1-x.ipynb`` → ``LC2.1.1-x.chainlab-0.2.0.ipynb`` (same folder)."""
    path = Path(relative)
    return str(path.with_name(f"{path.stem}.chainlab-{version}{path.suffix}").as_posix())


def sync_course(course: Course, folder: Path, version: str) -> SyncReport:
    """Copy the course into ``folder``; never overwrite a file the learner changed.

    A file is replaced only if it is exactly what an earlier sync wrote (recorded in
    ``folder/.chainlab-course.json``). Raises OSError if ``folder`` cannot be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    written = _read_manifest(manifest_path)
    report = SyncReport(folder)
    for relative, source in course.files().items():
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        target = folder / relative
        if not target.exists():
            _write(target, data)
            report.added.append(relative)
        elif (current := sha256(target)) == digest:
            pass
        elif current == written.get(relative):  # ours, untouched: bring it up to date
            _write(target, data)
            report.updated.append(relative)
        elif digest != written.get(relative):  # the learner's, and the lesson changed
            _offer(folder, relative, data, digest, version, written, report)
            continue
        else:  # the learner's, and still the lesson we gave them: nothing to do
            continue
        written[relative] = digest
    record = {"version": version, "files": written}
    _write(manifest_path, (json.dumps(record, indent=1) + "\n").encode())
    return report


def _offer(
    folder: Path,
    relative: str,
    data: bytes,
    digest: str,
    version: str,
    written: dict[str, str],
    report: SyncReport,
) -> None:
    """Write the newer version of the learner's ``relative`` beside it, unless the one
    already there is the learner's too (then it is kept, and said so)."""
    beside = offered_name(relative, version)
    other = folder / beside
    if other.exists() and sha256(other) != written.get(beside):
        report.kept.append(relative)
        return
    if not other.exists() or sha256(other) != digest:
        _write(other, data)
    report.offered[relative] = beside
    written[beside] = digest


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        files = json.loads(path.read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}  # none yet, or unreadable: every existing file counts as the learner's
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
