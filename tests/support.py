"""Small helpers shared by several test modules (pytest puts tests/ on sys.path)."""

from __future__ import annotations

from datetime import datetime, timezone

#: A fixed start for tests that move a clock.
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Clock:
    """A clock a test moves by hand (``clock.now += timedelta(...)``)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def one_error_line(result, code: int = 2) -> str:
    """The CLI result failed with ``code`` and exactly one line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]
