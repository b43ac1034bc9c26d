"""Packaging: a headless core install, declared dependencies, the license, the README set-up.

``pip install tomorestore`` gives the library and the command line without napari or Qt (a
cluster install); ``pip install "tomorestore[napari]"`` adds the plugin's GUI stack. These
tests check, without installing anything, that

- the core imports and the command line builds while napari, Qt, magicgui and their helpers
  cannot be imported (a ``sys.meta_path`` blocker in a fresh interpreter);
- every third-party module the core imports is a core dependency in ``pyproject.toml``, and
  every one ``tomorestore._napari`` imports is in the core or the ``napari`` extra;
- the README's two set-up commands are valid shell.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import tomorestore

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

PACKAGE_DIR = Path(tomorestore.__file__).resolve().parent
REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"

#: Top-level modules a headless install does not have: napari, its Qt stack and helpers.
GUI_MODULES = (
    "napari",
    "npe2",
    "app_model",
    "vispy",
    "magicgui",
    "qtpy",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "superqt",
    "psygnal",
    "pint",
)

#: Import names whose distribution has another name, for when the distribution is not
#: installed here (importlib.metadata answers for those that are).
DISTRIBUTION_OF = {
    "skimage": "scikit-image",
    "yaml": "pyyaml",
    "pytestqt": "pytest-qt",
    "importlinter": "import-linter",
    "PIL": "pillow",
}

# --------------------------------------------------------------------------- headless core

_HEADLESS_SCRIPT = r"""
import contextlib, importlib, importlib.abc, io, json, sys

BLOCKED = set(json.loads(sys.argv[1]))
sys.path.insert(0, sys.argv[2])


class BlockGui(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r} (headless test)",
                                      name=fullname)
        return None


sys.meta_path.insert(0, BlockGui())

import tomorestore

for name in ("tomorestore.api", "tomorestore.training", "tomorestore.methods",
             "tomorestore.io", "tomorestore.simulate", "tomorestore.cli"):
    importlib.import_module(name)
# the public API, resolved lazily by tomorestore.__getattr__
for name in tomorestore.__all__:
    getattr(tomorestore, name)

from tomorestore import cli

parser = cli.build_parser()
helps = {}
for argv in (["--help"],) + tuple([c, "--help"] for c in cli.COMMAND_MODULES):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            cli.main(argv)
        except SystemExit as exc:
            assert exc.code == 0, (argv, exc.code)
    helps[" ".join(argv)] = out.getvalue()

loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED | {"tomorestore._napari"})
print(json.dumps({"helps": helps, "loaded": loaded}))
"""


def test_core_and_cli_work_without_napari_or_qt() -> None:
    """The library, the API and every CLI sub-command's parser need no GUI package."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _HEADLESS_SCRIPT,
            json.dumps(GUI_MODULES),
            str(PACKAGE_DIR.parent),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    top = report["helps"]["--help"]
    assert "usage: tomorestore" in top
    for command in ("simulate", "train", "restore", "demo"):
        assert command in top
        assert f"usage: tomorestore {command}" in report["helps"][f"{command} --help"]


# ------------------------------------------------------------------- declared dependencies


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(req: str) -> tuple[str, set[str]]:
    """``"napari[pyqt6]>=0.5"`` -> ``("napari", {"pyqt6"})``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", req)
    assert match, req
    extras = {_normalize(e) for e in (match.group(2) or "").split(",") if e.strip()}
    return _normalize(match.group(1)), extras


def _declared(project: dict, extra: str | None) -> set[str]:
    """Distribution names a requirement list declares, self-references expanded.

    ``napari[pyqt6]`` declares ``napari`` and ``pyqt6`` (the Qt binding it pulls in).
    """
    reqs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    names: set[str] = set()
    for req in reqs:
        name, extras = _requirement(req)
        if name == _normalize(project["name"]):
            for sub in extras:
                names |= _declared(project, sub)
        else:
            names.add(name)
            names |= extras
    return names


def _third_party_imports(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level third-party module name -> the files that import it (``ast``, any depth).

    A module beside the importing file (``benchmarks/quality.py`` importing
    ``quality_metrics``) or a benchmark script (a test importing ``plain_n2n``) is local,
    not third-party.
    """
    found: dict[str, set[str]] = {}
    benchmark_modules = {p.stem for p in (REPO / "benchmarks").glob("*.py")}
    for path in paths:
        siblings = {p.stem for p in path.parent.glob("*.py")} | benchmark_modules
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in sys.stdlib_module_names or top == "tomorestore" or top in siblings:
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@functools.cache
def _installed_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # seconds: it reads every installed RECORD


def _distributions(module: str) -> set[str]:
    """The distributions that may provide the top-level ``module``."""
    installed = _installed_distributions().get(module, [])
    names = {_normalize(d) for d in installed}
    names.add(_normalize(DISTRIBUTION_OF.get(module, module)))
    return names


def _undeclared(imports: dict[str, set[str]], declared: set[str]) -> dict[str, list[str]]:
    return {
        module: sorted(files)
        for module, files in sorted(imports.items())
        if not _distributions(module) & declared
    }


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def _sources(napari: bool) -> list[Path]:
    return [
        p
        for p in sorted((REPO / "src" / "tomorestore").rglob("*.py"))
        if ("_napari" in p.relative_to(REPO / "src" / "tomorestore").parts) == napari
    ]


def test_core_imports_are_core_dependencies(project: dict) -> None:
    """Every third-party module of the core is declared; nothing undeclared, nothing GUI."""
    imports = _third_party_imports(_sources(napari=False))
    declared = _declared(project, None)
    assert _undeclared(imports, declared) == {}
    gui = {_normalize(m) for m in GUI_MODULES}
    assert not declared & gui, "the core install must stay headless"
    unused = {name for name in declared if not any(name in _distributions(m) for m in imports)}
    assert unused == set(), "declared core dependencies that src/tomorestore never imports"


def test_napari_imports_are_in_the_napari_extra(project: dict) -> None:
    """``tomorestore._napari`` needs only the core and the ``napari`` extra."""
    imports = _third_party_imports(_sources(napari=True))
    assert "napari" in imports or "qtpy" in imports  # the scan sees the plugin
    extra = _declared(project, "napari")
    assert _undeclared(imports, _declared(project, None) | extra) == {}
    # napari, magicgui and a Qt binding, as the napari plugin template recommends
    assert {"napari", "magicgui"} <= extra
    assert extra & {"pyqt5", "pyqt6", "pyside2", "pyside6"}
    assert extra <= _declared(project, "all")


def test_tests_and_benchmarks_imports_are_in_the_test_extra(project: dict) -> None:
    """``pip install -e ".[test]"`` (the README and .ci/run) gives what the tests import."""
    paths = [
        p
        for folder in ("tests", "benchmarks", "docs")
        for p in sorted((REPO / folder).rglob("*.py"))
    ]
    imports = _third_party_imports(paths)
    declared = _declared(project, None) | _declared(project, "test")
    assert _undeclared(imports, declared) == {}
    assert _declared(project, "napari") <= declared
    assert {"pytest-qt", "npe2", "ruff", "import-linter"} <= declared


def test_license_file_is_declared(project: dict) -> None:
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License")
    assert "2026, tomorestore developers" in text


def test_napari_manifest_entry_point_is_kept() -> None:
    entry_points = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["entry-points"]
    assert entry_points["napari.manifest"] == {"tomorestore": "tomorestore:napari.yaml"}
    assert (PACKAGE_DIR / "napari.yaml").is_file()


# ------------------------------------------------------------------------ README set-up


def _setup_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Set up\n", 1)[1].split("\n## ", 1)[0]
    return [textwrap.dedent(b).strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_setup_is_two_valid_shell_commands() -> None:
    commands = _setup_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands), "each is one line to paste"
    bash = shutil.which("bash")
    if bash is None:  # pragma: no cover
        pytest.skip("no bash")
    for command in commands:
        result = subprocess.run([bash, "-n", "-c", command], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    install, tests = commands
    # the first stays headless: no extra, so no napari or Qt
    assert "pip install -e . " in install and "[" not in install
    # the second works as root without sudo and as a user with sudo, on a fresh package list
    assert "id -u" in tests and "apt-get update" in tests
    assert tests.index("apt-get update") < tests.index("apt-get install")
    assert tests.index("torch==2.13.0") < tests.index('".[test]"')
    assert "xvfb-run -a .venv/bin/python -m pytest" in tests
