"""A newcomer's install (issue 22): ``pip install .`` into a fresh virtual environment, then
``countenance demo`` from anywhere, finding the demo photos through the package's location.

Slow (a few minutes: every dependency is unpacked into the new environment, from pip's cache
when it has them), so it runs only with ``COUNTENANCE_INSTALL_TEST=1``: ``make install-check``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, SHARED

pytestmark = pytest.mark.skipif(os.environ.get("COUNTENANCE_INSTALL_TEST") != "1",
                                reason="a fresh-venv install takes minutes: make install-check")


def _copy_checkout(target):
    """The tracked (and untracked, not ignored) files of this checkout, as a fresh clone has them."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_pip_install_then_demo_from_anywhere(tmp_path):
    checkout = tmp_path / "countenance"
    _copy_checkout(checkout)
    (tmp_path / "shared").symlink_to(SHARED.resolve())  # a clone next to shared/, as the README says
    venv = checkout / ".venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNTENANCE_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HOME"] = str(tmp_path / "home")
    env["COUNTENANCE_CACHE_DIR"] = str(tmp_path / "cache")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # face_recognition_models needs pkg_resources (setuptools < 81) at run time, as the Makefile installs it.
    subprocess.run([*pip, "setuptools<81", "wheel"], check=True, env=env, timeout=600)
    installed = subprocess.run([*pip, "--no-build-isolation", str(checkout)], env=env, capture_output=True, text=True, timeout=1800)
    assert installed.returncode == 0, installed.stderr[-3000:]

    # Only what running needs: the test tools are extras.
    assert subprocess.run([str(venv / "bin" / "python"), "-c", "import pytest"], env=env, capture_output=True).returncode != 0

    script = venv / "bin" / "countenance"
    assert "countenance 0." in subprocess.run([str(script), "--version"], env=env, capture_output=True, text=True).stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    demo = subprocess.run([str(script), "demo", "--json"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, demo.stderr[-3000:]
    document = json.loads(demo.stdout)
    assert document["enrolled"]["people"] == 9
    assert "obama" in {face["decision"] for face in document["faces"]}
