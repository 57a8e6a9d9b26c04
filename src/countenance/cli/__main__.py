"""``python -m countenance.cli``."""

from . import main

main()
