"""The layers of docs/ARCHITECTURE.md, enforced: import-linter's contracts (pyproject.toml) and
the size of each module."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 500


def test_import_contracts_hold():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports is not None, "import-linter is a test dependency: pip install -e '.[test]'"
    run = subprocess.run([lint_imports, "--config", str(REPO / "pyproject.toml")], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_the_contracts_catch_a_layer_violation(tmp_path):
    """The same contracts on a copy of the package where a value-type module imports the CLI
    must fail: proof that the check above can fail at all."""
    copy = tmp_path / "src"
    shutil.copytree(REPO / "src" / "countenance", copy / "countenance", ignore=shutil.ignore_patterns("__pycache__"))
    faces = copy / "countenance" / "faces.py"
    faces.write_text(faces.read_text() + "\n\ndef _violation():\n    from .cli import app  # noqa: F401\n")
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    run = subprocess.run([lint_imports, "--config", str(REPO / "pyproject.toml")], cwd=REPO,
                         capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert run.returncode != 0
    assert "countenance.faces -> countenance.cli" in run.stdout


def test_no_module_is_over_the_size_limit():
    sizes = {path.relative_to(REPO).as_posix(): len(path.read_text().splitlines())
             for path in (REPO / "src" / "countenance").rglob("*.py")}
    too_long = {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not too_long, f"split these modules (limit {MAX_MODULE_LINES} lines): {too_long}"


def test_the_package_functions_do_not_shadow_the_modules():
    """``countenance.detect``/``embed`` are the package's functions; the registries live in
    ``countenance.detection``/``embedding``, reachable after ``import countenance``."""
    import countenance
    import countenance.detection
    import countenance.embedding

    assert callable(countenance.detect) and callable(countenance.embed)
    assert "hog" in countenance.detection.DETECTORS and "dlib" in countenance.embedding.EMBEDDERS


def test_the_cli_starts_without_the_gallery():
    """Every command pays for what ``import countenance.cli`` loads: the backend choices read the
    index registry alone, not the gallery's store, audit log or migration (about 100 ms)."""
    code = "import sys, countenance.cli; print(sorted(m for m in sys.modules if m.startswith('countenance.gallery')))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO / "src"), os.environ.get("PYTHONPATH"))))}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = set(ast.literal_eval(run.stdout))
    assert loaded <= {"countenance.gallery", "countenance.gallery.index", "countenance.gallery.index_base"}, loaded
