"""The Python x Django matrix: ``nox`` (all pairs), ``nox -s "tests(3.13-django6.1)"`` (one).

Each supported pair runs the suite on SQLite without the browser tests (those, and
PostgreSQL and MariaDB, run once in ``.ci/run`` on the machine's own Python).

Interpreters come from the machine, never from a download: pyenv's
``$PYENV_ROOT/versions/3.1x.y/bin`` are put on ``PATH`` so that ``python3.12`` means
that build. Virtualenvs are reused between runs (``reuse_venv = "yes"``) and made by
uv when it is installed (``pip install uv``), else by virtualenv.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

#: (Python, Django) pairs we support; Django 6 needs Python 3.12+.
MATRIX: list[tuple[str, str]] = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.13", "5.2"),
    ("3.12", "6.0"),
    ("3.13", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "6.1"),
]

nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"
nox.options.default_venv_backend = "uv|virtualenv"
# A missing interpreter is an error, not a silent skip, and nox never downloads one.
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"


def _pyenv_on_path() -> None:
    """Put pyenv's build of each matrix Python first on PATH: its shims only answer
    for the active version, so ``python3.12`` would not be found through them."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    wanted = sorted({python for python, _ in MATRIX})
    bins = [str(p) for python in wanted for p in sorted(root.glob(f"{python}.*/bin")) if p.is_dir()]
    if bins:
        os.environ["PATH"] = os.pathsep.join([*bins, os.environ.get("PATH", "")])


_pyenv_on_path()


@nox.session
@nox.parametrize(("python", "django"), MATRIX, ids=[f"{py}-django{dj}" for py, dj in MATRIX])
def tests(session: nox.Session, django: str) -> None:
    """The test suite on SQLite, browser tests excluded, against one Django feature release."""
    session.install("-e", ".[test]", f"django~={django}.0")
    session.run("python", "-m", "django", "--version")
    # Each session gets its own test database name (tests/settings.py reads WXPAY_TEST_RUN).
    run = os.environ.get("WXPAY_TEST_RUN", "") + f"_nox{session.python}_{django}".replace(".", "")
    session.run(
        "python",
        "-m",
        "pytest",
        "-m",
        "not browser",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"WXPAY_TEST_RUN": run},
    )
