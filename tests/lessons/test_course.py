"""The installed course and the learner's copy of it (``chainlab lab``'s first step)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainlab.lessons import course
from chainlab.lessons.course import MANIFEST, Course, find_course, offered_name, sync_course

ROOT = Path(__file__).resolve().parents[2]


def make_course(base: Path, lessons: dict[str, str], demos: dict[str, str]) -> Course:
    (base / "lessons").mkdir(parents=True)
    (base / "notebooks").mkdir()
    for name, text in lessons.items():
        (base / "lessons" / name).write_text(text)
    for name, text in demos.items():
        (base / "notebooks" / name).write_text(text)
    return Course(base / "lessons", base / "notebooks")


@pytest.fixture
def source(tmp_path: Path) -> Course:
    return make_course(
        tmp_path / "course",
        {"LC1.1-a.ipynb": "a1", "LC1.2-b.ipynb": "b1", "README.md": "readme", "x.txt": "no"},
        {"tour.ipynb": "t1"},
    )


def tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def test_the_checkout_is_the_course_when_no_wheel_holds_one() -> None:
    found = find_course()
    assert found is not None
    assert found.lessons == ROOT / "lessons"  # PYTHONPATH=src: no chainlab/_course here
    files = found.files()
    assert len([n for n in files if n.startswith("LC")]) == 8
    assert "README.md" in files
    assert "notebooks/tour.ipynb" in files


def test_the_wheels_course_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "site" / "chainlab" / "_course"
    make_course(wheel, {"LC9.9-only.ipynb": "{}"}, {})
    monkeypatch.setattr(course, "PACKAGED", wheel)
    found = find_course()
    assert found is not None
    assert found.lessons == wheel / "lessons"
    monkeypatch.setattr(course, "CHECKOUT", tmp_path / "nothing")
    monkeypatch.setattr(course, "PACKAGED", tmp_path / "nothing either")
    assert find_course() is None


def test_the_first_sync_copies_everything(source: Course, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    report = sync_course(source, mine, "1.0")
    assert tree(mine) == {
        "LC1.1-a.ipynb": "a1",
        "LC1.2-b.ipynb": "b1",
        "README.md": "readme",
        "notebooks/tour.ipynb": "t1",
    }
    assert sorted(report.added) == sorted(tree(mine))
    assert report.lines() == [f"copied 4 files (lessons, demos) into {mine}"]
    assert json.loads((mine / MANIFEST).read_text())["version"] == "1.0"
    again = sync_course(source, mine, "1.0")  # nothing changed: nothing to do or say
    assert again.lines() == []


def test_a_later_sync_never_overwrites_the_learners_edits(source: Course, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    sync_course(source, mine, "1.0")
    (mine / "LC1.1-a.ipynb").write_text("my answers")  # the learner's work
    (source.lessons / "LC1.1-a.ipynb").write_text("a2")  # a newer chainlab
    (source.lessons / "LC1.2-b.ipynb").write_text("b2")
    (source.lessons / "LC1.3-c.ipynb").write_text("c1")
    report = sync_course(source, mine, "2.0")
    files = tree(mine)
    assert files["LC1.1-a.ipynb"] == "my answers"  # kept
    assert files["LC1.1-a.chainlab-2.0.ipynb"] == "a2"  # the new version, beside it
    assert files["LC1.2-b.ipynb"] == "b2"  # untouched by the learner: brought up to date
    assert files["LC1.3-c.ipynb"] == "c1"  # a new lesson
    assert report.updated == ["LC1.2-b.ipynb"]
    assert report.added == ["LC1.3-c.ipynb"]
    assert report.offered == {"LC1.1-a.ipynb": "LC1.1-a.chainlab-2.0.ipynb"}
    assert (
        "you changed LC1.1-a.ipynb: the new version is beside it, as LC1.1-a.chainlab-2.0.ipynb"
        in report.lines()
    )


def test_an_edit_with_no_newer_lesson_is_left_alone(source: Course, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    sync_course(source, mine, "1.0")
    (mine / "notebooks" / "tour.ipynb").write_text("my tour")
    report = sync_course(source, mine, "1.1")
    assert tree(mine)["notebooks/tour.ipynb"] == "my tour"
    assert report.lines() == []
    assert not list(mine.rglob("*.chainlab-*.ipynb"))  # nothing offered: the lesson did not change


def test_an_edited_offered_copy_is_never_overwritten_either(source: Course, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    sync_course(source, mine, "1.0")
    (mine / "LC1.1-a.ipynb").write_text("mine")
    (source.lessons / "LC1.1-a.ipynb").write_text("a2")
    sync_course(source, mine, "2.0")
    beside = mine / "LC1.1-a.chainlab-2.0.ipynb"
    beside.write_text("I worked in the new one")
    (source.lessons / "LC1.1-a.ipynb").write_text("a3")  # same version number, new content
    report = sync_course(source, mine, "2.0")
    assert beside.read_text() == "I worked in the new one"
    assert (mine / "LC1.1-a.ipynb").read_text() == "mine"
    assert report.kept == ["LC1.1-a.ipynb"]
    (source.lessons / "LC1.1-a.ipynb").write_text("a4")
    assert sync_course(source, mine, "3.0").offered == {
        "LC1.1-a.ipynb": "LC1.1-a.chainlab-3.0.ipynb"
    }


def test_files_already_there_without_a_record_count_as_the_learners(
    source: Course, tmp_path: Path
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "LC1.1-a.ipynb").write_text("something of mine")
    (mine / MANIFEST).write_text("not json")
    report = sync_course(source, mine, "1.0")
    assert (mine / "LC1.1-a.ipynb").read_text() == "something of mine"
    assert report.offered == {"LC1.1-a.ipynb": "LC1.1-a.chainlab-1.0.ipynb"}
    assert (mine / "LC1.1-a.chainlab-1.0.ipynb").read_text() == "a1"


def test_offered_names() -> None:
    assert offered_name("LC2.1.1-x.ipynb", "0.2.0") == "LC2.1.1-x.chainlab-0.2.0.ipynb"
    assert offered_name("notebooks/tour.ipynb", "1") == "notebooks/tour.chainlab-1.ipynb"
