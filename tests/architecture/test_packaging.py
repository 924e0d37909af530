"""The wheel: built from the project's sources, installed alone into a fresh virtual
environment, every module imports, and the installed app either serves the course or says
which setting names the files it lacks.

Offline by construction: the wheel is built with the setuptools of this environment (no build
isolation, nothing downloaded), installed with --no-deps --no-index, and the new environment
(no system site-packages) reaches the dependencies through one .pth line naming this
environment's site-packages, which comes after its own, so `app` and `widgets` are the
wheel's and nothing else.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from app.settings import ROOT

pytestmark = pytest.mark.slow  # a wheel build, a virtual environment and importing torch: about 30 s

# run inside the installed environment, from a directory that is not the checkout
IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil, sys
import app, widgets
modules = []
for package in (app, widgets):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
        modules.append(info.name)
print(json.dumps({"app": app.__file__, "widgets": widgets.__file__, "modules": modules}))
"""

SERVE = r"""
import sys
from fastapi.testclient import TestClient
from app.main import create_app
from app.settings import Settings, SettingsError
try:
    Settings.from_env().check_files()
except SettingsError as error:
    print("REFUSED", error)
    sys.exit(0)
with TestClient(create_app()) as client:
    print("SERVED", client.get("/").status_code, client.get("/chapters/training-loop").status_code,
          client.get("/static/course.css").status_code)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The python of a fresh environment holding only the wheel."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy: building writes build/ and *.egg-info next to the sources
    source.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", source)
    for package in ("app", "widgets"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--wheel-dir", str(work / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (work / "dist").glob("*.whl")
    env_dir = work / "env"
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def run(python: Path, code: str, cwd: Path, **env) -> str:
    done = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "COURSE_DEVICE": "cpu", **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_wheel_holds_every_package_and_the_sandbox_files(installed):
    wheel = next((installed.parents[2] / "dist").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/**/__init__.py")
                if p.parts[len(ROOT.parts)] in ("app", "widgets")}
    assert packages <= names, sorted(packages - names)
    sandboxed = {p.relative_to(ROOT).as_posix() for p in (ROOT / "app/exercises/sandboxed").glob("*.py")}
    assert sandboxed and sandboxed <= names, sorted(sandboxed - names)


def test_every_module_of_the_installed_wheel_imports(installed, tmp_path):
    found = json.loads(run(installed, IMPORT_EVERYTHING, tmp_path).splitlines()[-1])
    assert found["app"].startswith(str(installed.parents[1])), "app was imported from the checkout, not the wheel"
    assert found["widgets"].startswith(str(installed.parents[1]))
    expected = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in ROOT.glob("[aw]*/**/*.py")
                if p.parts[len(ROOT.parts)] in ("app", "widgets") and "sandboxed" not in p.parts
                and p.name != "__init__.py"}
    assert expected <= set(found["modules"]), sorted(expected - set(found["modules"]))


def test_the_installed_app_names_the_settings_for_the_course_files(installed, tmp_path):
    refused = run(installed, SERVE, tmp_path)
    assert refused.startswith("REFUSED")
    for name in ("COURSE_CONTENT_DIR", "COURSE_TEMPLATES_DIR", "COURSE_STATIC_DIR", "COURSE_CORPUS"):
        assert name in refused, refused


def test_the_installed_app_serves_the_course_from_files_it_is_pointed_at(installed, tmp_path):
    served = run(installed, SERVE, tmp_path, COURSE_CONTENT_DIR=str(ROOT / "content"),
                 COURSE_TEMPLATES_DIR=str(ROOT / "templates"), COURSE_STATIC_DIR=str(ROOT / "static"),
                 COURSE_DB=str(tmp_path / "progress.sqlite3"), COURSE_CACHE_URL="memory://",
                 COURSE_SCHEDULER="inprocess", COURSE_WARM_CACHE="0")
    assert served.split() == ["SERVED", "200", "200", "200"], served
