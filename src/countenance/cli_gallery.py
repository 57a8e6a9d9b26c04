"""The old name of :mod:`countenance.cli.gallery`, kept so that existing imports (and test
substitutions of its ``_pipeline``) reach the same module object, not a copy."""

import sys

from .cli import gallery as _gallery

sys.modules[__name__] = _gallery
