"""Build hook: the course (``lessons/`` and ``notebooks/``) travels inside the package.

The notebooks stay where authors edit them, at the top of the repository; building a
wheel (from the checkout or from the sdist, which grafts both folders, see MANIFEST.in)
copies them to ``chainlab/_course/`` in the wheel, where
:mod:`chainlab.lessons.course` finds them. An editable install copies nothing: the
course module finds the checkout's folders themselves.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
COURSE = {"lessons": ("LC*.ipynb", "README.md"), "notebooks": ("*.ipynb",)}


class BuildPyWithCourse(build_py):
    """``build_py``, then the course's notebooks copied into ``chainlab/_course/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib, "chainlab", "_course")
        for folder, patterns in COURSE.items():
            files = [path for pattern in patterns for path in sorted((ROOT / folder).glob(pattern))]
            if folder == "lessons" and not any(p.suffix == ".ipynb" for p in files):
                raise SystemExit(f"no lessons found in {ROOT / folder}: the wheel would hold none")
            self.mkpath(str(target / folder))
            for path in files:
                self.copy_file(str(path), str(target / folder / path.name))


setup(cmdclass={"build_py": BuildPyWithCourse})
