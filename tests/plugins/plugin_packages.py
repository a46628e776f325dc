"""Build small real plugin distributions in a folder and pip-install them into a site folder (one pip call)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def write_package(
    root: Path, name: str, version: str, modules: dict[str, str], entry_points: dict[str, str]
) -> Path:
    """A setuptools project ``root/name`` with a package of ``modules`` (file name -> source) and entry points."""
    project = root / name
    package = name.replace("-", "_")
    source = project / "src" / package
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    for file, text in modules.items():
        (source / file).write_text(textwrap.dedent(text))
    points = "\n".join(f'{point} = "{package}.{module}"' for point, module in entry_points.items())
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "{version}"
        requires-python = ">=3.11"

        [tool.setuptools.packages.find]
        where = ["src"]

        [project.entry-points.uspec_audit]
        """)
        + points
        + "\n"
    )
    return project


def pip_install(site: Path, *projects: Path) -> Path:
    """``pip install --target site`` the projects (no dependencies, no build isolation: fast and offline)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--upgrade",
            "--target",
            str(site),
            *map(str, projects),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return site


def site_env(site: Path, **extra: str) -> dict[str, str]:
    """Environment variables that put ``site`` first on the path of a ``uspec-audit`` subprocess."""
    return {"PYTHONPATH": os.pathsep.join([str(site), *sys.path]), **extra}


def uspec(site: Path, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """``python -m uspec_audit ARGS`` with ``site`` on the path."""
    return subprocess.run(
        [sys.executable, "-m", "uspec_audit", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **site_env(site, **env)},
    )
