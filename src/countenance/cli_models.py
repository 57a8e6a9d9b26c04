"""The old name of :mod:`countenance.cli.models`, kept so that existing imports reach the same module."""

import sys

from .cli import models as _models

sys.modules[__name__] = _models
