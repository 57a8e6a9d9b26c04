"""Backend options are choices read from the registries: ``--help`` lists every registered
detector, embedder (and the ``arcface:PATH`` form) and index backend, and a name outside them
is a one-line usage error (exit 2) naming the choices; the server's settings refuse one too."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from countenance.cli import app
from countenance.detection import DETECTORS
from countenance.embedding import EMBEDDERS
from countenance.errors import UnknownBackend
from countenance.gallery import INDEX_BACKENDS
from countenance.service.server import ServerSettings

from conftest import SHARED
from support import one_error_line

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(("command", "option", "registry"), [
    (("detect",), "--detector", DETECTORS), (("verify",), "--embedder", EMBEDDERS), (("gallery", "init"), "--index", INDEX_BACKENDS),
])
def test_help_lists_every_registered_backend(command, option, registry):
    result = run(*command, "--help")
    assert result.exit_code == 0
    (line,) = [line for line in result.stdout.splitlines() if line.strip().startswith(option + " ")]
    choices = line.split("[", 1)[1].split("]", 1)[0].split("|")
    assert set(registry) <= set(choices), (option, choices)
    assert ("auto" in choices) == (option != "--index") and ("arcface:PATH" in choices) == (option == "--embedder")


@pytest.mark.parametrize(("args", "message"), [
    (("detect", "x.jpg", "--detector", "nope"), "unknown detector 'nope'; choose one of auto, "),
    (("verify", "a.jpg", "b.jpg", "--embedder", "facenet"), "unknown embedder 'facenet'; choose one of auto, "),
    (("verify", "a.jpg", "b.jpg", "--embedder", "arcface:"), "unknown embedder 'arcface:'"),
    (("gallery", "init", "--index", "redis"), "unknown index backend 'redis'; choose one of "),
])
def test_an_unknown_backend_is_a_one_line_usage_error(args, message, tmp_path):
    result = run(*args, "--gallery", tmp_path / "g") if args[0] == "gallery" else run(*args)
    assert message in one_error_line(result, 2)
    assert not (tmp_path / "g").exists()  # refused before anything was done


def test_the_arcface_form_names_a_model_file(fixtures):
    """``arcface:<path>`` passes the option's check; the model itself is read after (here it
    has no spec sidecar, so the error is the model's, not a usage error)."""
    model = SHARED / "models" / "test-only" / "mobilefacenet_112_128d.onnx"
    probes = fixtures / "probes"
    result = run("verify", probes / "obama1.jpg", probes / "obama-720p.jpg", "--detector", "hog", "--embedder", f"arcface:{model}")
    assert "Invalid value" not in result.stderr and "no spec for this model" in result.stderr


def test_server_settings_refuse_an_unknown_backend():
    with pytest.raises(UnknownBackend, match="unknown detector 'nope'; choose one of auto, "):
        ServerSettings(detector="nope")
    with pytest.raises(UnknownBackend, match="arcface:PATH"):
        ServerSettings(embedder="facenet")
    assert ServerSettings(embedder="arcface:/models/any.onnx").embedder == "arcface:/models/any.onnx"
