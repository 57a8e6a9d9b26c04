"""The model registry: pinned sha256s, pulling from local files and file:// URLs, refusing
altered files, the licence gate, and the ``models`` CLI. Real files, no network."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from countenance import model_registry as registry
from countenance.cli.models import models_app
from countenance.errors import (
    CountenanceError,
    LicenceNotAccepted,
    ModelChecksumMismatch,
    ModelError,
    ModelNotInstalled,
    UnknownModel,
)

SHARED = Path(os.environ.get("COUNTENANCE_SHARED") or Path(__file__).resolve().parents[2] / "shared")
MODELS = SHARED / "models"
YUNET = registry.REGISTRY["yunet"]
YUNET_FILE = MODELS / "yunet" / YUNET.filename

runner = CliRunner()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flip_byte(data: bytes, offset: int = 1000) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


@pytest.fixture(autouse=True)
def model_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("COUNTENANCE_MODEL_DIR", str(folder))
    return folder


def cli(*args: str):
    return runner.invoke(models_app, [str(a) for a in args])


# --------------------------------------------------------------------------------------
# The registry itself


def test_registry_pins_match_the_shared_files():
    checked = 0
    for entry in registry.REGISTRY.values():
        found = list(MODELS.glob(f"*/{entry.filename}"))
        if not found:
            continue  # sface is not in ../shared
        assert len(found) == 1
        assert sha256(found[0]) == entry.sha256, entry.name
        assert found[0].stat().st_size == entry.size, entry.name
        checked += 1
    assert checked == len(registry.REGISTRY) - 1


def test_registry_contents():
    assert list(registry.REGISTRY) == [
        "yunet", "sface", "ultraface-rfb-320", "ultraface-rfb-640", "ultraface-slim-320", "blazeface",
    ]
    assert not any("mobilefacenet" in e.filename.lower() for e in registry.REGISTRY.values())
    sface = registry.REGISTRY["sface"]
    assert (sface.task, sface.size) == ("recogniser", 38_696_353)
    assert sface.sha256 == "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"
    for entry in registry.REGISTRY.values():
        assert entry.source_url.startswith("https://github.com/")
        assert entry.source_url.endswith("/" + entry.filename)
        assert entry.licence in ("Apache-2.0", "MIT") and entry.licence_commercial_use
    with pytest.raises(TypeError):
        registry.REGISTRY["x"] = YUNET  # type: ignore[index]


def test_entry_validation():
    fields = {**YUNET.__dict__}
    with pytest.raises(ValueError, match="task"):
        registry.ModelEntry(**{**fields, "task": "landmarks"})
    with pytest.raises(ValueError, match="sha256"):
        registry.ModelEntry(**{**fields, "sha256": YUNET.sha256.upper()})
    with pytest.raises(ValueError, match="filename"):
        registry.ModelEntry(**{**fields, "filename": "../escape.onnx"})


def test_model_dir_environment(monkeypatch, tmp_path):
    assert registry.model_dir() == tmp_path / "models"
    monkeypatch.delenv("COUNTENANCE_MODEL_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert registry.model_dir() == tmp_path / "xdg" / "countenance" / "models"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert registry.model_dir() == tmp_path / "home" / ".local" / "share" / "countenance" / "models"
    assert not (tmp_path / "home").exists()  # nothing is created until a pull


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownModel) as caught:
        registry.installed_model_path("yunett")
    message = str(caught.value)
    assert "'yunett'" in message
    for name in registry.REGISTRY:
        assert name in message
    with pytest.raises(UnknownModel):
        registry.pull("nope", YUNET_FILE)


# --------------------------------------------------------------------------------------
# Pulling and loading


def test_pull_from_file_url(model_folder):
    path = registry.pull("yunet", YUNET_FILE.resolve().as_uri())
    assert path == model_folder / YUNET.filename
    assert sha256(path) == YUNET.sha256
    assert registry.installed_model_path("yunet") == path
    assert registry.installed_model_path("yunet", verify=False) == path
    assert sorted(p.name for p in model_folder.iterdir()) == [YUNET.filename, YUNET.filename + ".verified"]


def test_pull_from_local_path_reports_progress(model_folder):
    seen: list[tuple[int, int]] = []
    path = registry.pull("yunet", str(YUNET_FILE), on_progress=lambda done, total: seen.append((done, total)))
    assert sha256(path) == YUNET.sha256
    assert seen and seen[-1] == (YUNET.size, YUNET.size)
    assert registry.verify("yunet")
    assert dict((e.name, installed) for e, installed in registry.list_models()) == {
        name: name == "yunet" for name in registry.REGISTRY
    }


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def http_root(tmp_path):
    """An HTTP server on 127.0.0.1 (loopback only) serving a temp folder; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_pull_over_http_loopback(model_folder, http_root):
    root, base = http_root
    (root / "good.onnx").write_bytes(YUNET_FILE.read_bytes())
    (root / "big.onnx").write_bytes(YUNET_FILE.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="232,590 bytes, more than"):
        registry.pull("yunet", f"{base}/big.onnx")
    with pytest.raises(ModelError, match="cannot download"):
        registry.pull("yunet", f"{base}/missing.onnx")
    assert list(model_folder.iterdir()) == []
    path = registry.pull("yunet", f"{base}/good.onnx")
    assert sha256(path) == YUNET.sha256


def test_pull_refuses_a_changed_byte(model_folder, tmp_path):
    altered = tmp_path / "altered.onnx"
    altered.write_bytes(flip_byte(YUNET_FILE.read_bytes()))
    actual = sha256(altered)
    with pytest.raises(ModelChecksumMismatch) as caught:
        registry.pull("yunet", altered)
    error = caught.value
    assert (error.expected, error.actual) == (YUNET.sha256, actual)
    assert YUNET.sha256 in str(error) and actual in str(error) and str(altered) in str(error)
    assert list(model_folder.iterdir()) == []  # no model, no leftover temp file
    with pytest.raises(ModelNotInstalled):
        registry.installed_model_path("yunet")


def test_pull_refuses_a_bigger_file(model_folder, tmp_path):
    bigger = tmp_path / "bigger.onnx"
    bigger.write_bytes(YUNET_FILE.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="more than the 232,589 bytes"):
        registry.pull("yunet", bigger)
    assert list(model_folder.iterdir()) == []


def test_pull_bad_sources(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        registry.pull("yunet", tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="unsupported source"):
        registry.pull("yunet", "ftp://example.invalid/yunet.onnx")
    with pytest.raises(ModelError, match="must be local"):
        registry.pull("yunet", "file://otherhost/yunet.onnx")


def test_installed_file_corrupted_afterwards_is_refused(model_folder):
    path = registry.pull("yunet", YUNET_FILE)
    assert registry.installed_model_path("yunet") == path  # verified (and cached)
    path.write_bytes(flip_byte(path.read_bytes()))
    actual = sha256(path)
    with pytest.raises(ModelChecksumMismatch) as caught:
        registry.installed_model_path("yunet")
    message = str(caught.value)
    assert str(path) in message and YUNET.sha256 in message and actual in message
    assert "countenance models pull yunet" in message
    assert registry.installed_model_path("yunet", verify=False) == path
    result = registry.verify("yunet")
    assert not result and (result.expected, result.actual) == (YUNET.sha256, actual)
    # Pulling again repairs it.
    registry.pull("yunet", YUNET_FILE)
    assert registry.installed_model_path("yunet") == path and sha256(path) == YUNET.sha256


def test_verification_cache_is_keyed_on_the_file(model_folder):
    path = registry.pull("yunet", YUNET_FILE)
    registry.installed_model_path("yunet")
    sidecar = path.with_name(path.name + ".verified")
    record = json.loads(sidecar.read_text())
    assert record["sha256"] == YUNET.sha256 and record["file"]["size"] == YUNET.size
    # Same size, new mtime: re-hashed, so a same-size corruption cannot hide behind the cache.
    stat = path.stat()
    path.write_bytes(flip_byte(path.read_bytes()))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    with pytest.raises(ModelChecksumMismatch):
        registry.installed_model_path("yunet")
    assert not sidecar.exists()


def test_missing_model_names_the_install_command(model_folder):
    with pytest.raises(ModelNotInstalled) as caught:
        registry.installed_model_path("yunet")
    assert "countenance models pull yunet" in str(caught.value)
    assert isinstance(caught.value, CountenanceError)
    with pytest.raises(ModelNotInstalled):
        registry.verify("yunet")
    assert not model_folder.exists()  # looking does not create the folder


def test_licence_gate(model_folder):
    restricted = registry.ModelEntry(
        **{**YUNET.__dict__, "name": "yunet-nc", "licence": "CC-BY-NC-4.0", "licence_commercial_use": False}
    )
    with pytest.raises(LicenceNotAccepted) as caught:
        registry.pull(restricted, YUNET_FILE)
    assert "CC-BY-NC-4.0" in str(caught.value) and "yunet-nc" in str(caught.value)
    assert not model_folder.exists()
    path = registry.pull(restricted, YUNET_FILE, accept_licence=True)
    assert registry.installed_model_path(restricted) == path


# --------------------------------------------------------------------------------------
# The CLI


def test_cli_list_json(model_folder):
    result = cli("list", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["model_dir"] == str(model_folder)
    assert [m["name"] for m in document["models"]] == list(registry.REGISTRY)
    assert not any(m["installed"] for m in document["models"])
    assert {m["commercial_use"] for m in document["models"]} == {True}


def test_cli_list_table():
    result = cli("list")
    assert result.exit_code == 0
    assert "yunet" in result.stdout and "Apache-2.0" in result.stdout


def test_cli_pull_verify_path(model_folder):
    result = cli("pull", "yunet", "--from", YUNET_FILE.resolve().as_uri(), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["path"] == str(model_folder / YUNET.filename)
    assert document["sha256"] == YUNET.sha256 and document["already_installed"] is False
    assert "Apache-2.0" in result.stderr  # the licence is shown before pulling

    again = json.loads(cli("pull", "yunet", "--from", YUNET_FILE, "--json").stdout)
    assert again["already_installed"] is True

    listed = json.loads(cli("list", "--json").stdout)
    assert [m["name"] for m in listed["models"] if m["installed"]] == ["yunet"]

    result = cli("verify", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True and [m["name"] for m in document["models"]] == ["yunet"]

    result = cli("path", "yunet", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"name": "yunet", "path": document["models"][0]["path"]}
    assert cli("path", "yunet").stdout.strip() == document["models"][0]["path"]


def test_cli_verify_mismatch_exits_1(model_folder):
    path = registry.pull("yunet", YUNET_FILE)
    path.write_bytes(flip_byte(path.read_bytes()))
    for args in (["verify", "--json"], ["verify", "yunet", "--json"]):
        result = cli(*args)
        assert result.exit_code == 1
        document = json.loads(result.stdout)
        assert document["ok"] is False
        assert document["models"][0]["actual"] == sha256(path)
    result = cli("verify", "yunet")
    assert result.exit_code == 1 and "mismatch" in result.stderr


def test_cli_errors_are_one_line_exit_2(model_folder, tmp_path):
    result = cli("path", "yunet")
    assert result.exit_code == 2
    assert "countenance models pull yunet" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""

    result = cli("path", "nope", "--json")
    assert result.exit_code == 2 and "known models" in result.stderr and json.loads(result.stdout)["error"]["kind"] == "unknown model"

    altered = tmp_path / "altered.onnx"
    altered.write_bytes(flip_byte(YUNET_FILE.read_bytes()))
    result = cli("pull", "yunet", "--from", altered, "--json")
    assert result.exit_code == 2
    assert YUNET.sha256 in result.stderr and sha256(altered) in result.stderr
    assert json.loads(result.stdout)["error"]["exit_code"] == 2 and not (model_folder / YUNET.filename).exists()

    result = cli("verify", "yunet")
    assert result.exit_code == 2 and "countenance models pull yunet" in result.stderr


def test_cli_verify_nothing_installed():
    result = cli("verify", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "models": []}
