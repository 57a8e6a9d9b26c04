"""Shared test fixtures: paths into ../shared (override with COUNTENANCE_SHARED) and one pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COUNTENANCE_SHARED") or REPO.parent / "shared")
FIXTURES = SHARED / "data" / "fixtures"
LFW = Path(os.environ.get("COUNTENANCE_LFW_DIR") or SHARED / "data" / "lfw")

if not FIXTURES.is_dir():  # pragma: no cover - a broken checkout, not a test outcome
    raise RuntimeError(f"test fixtures not found at {FIXTURES}; set COUNTENANCE_SHARED")

# The CLI resolves ../shared from the environment; point it at the same place for every test.
os.environ.setdefault("COUNTENANCE_SHARED", str(SHARED))


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def lfw() -> Path:
    return LFW


@pytest.fixture(scope="session")
def pipeline():
    from countenance import Pipeline

    return Pipeline()
