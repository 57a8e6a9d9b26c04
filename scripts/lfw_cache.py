"""Fill the LFW template cache (see :mod:`countenance.evaluate.lfw_templates`).

    python scripts/lfw_cache.py [LFW_DIR] [--embedder NAME] [--workers N] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from countenance import datasets
from countenance.evaluate import load_lfw_templates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lfw_dir", type=Path, nargs="?", default=None, help="LFW folder (default: ../shared/data/lfw)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="template cache (default: ~/.cache/countenance)")
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    templates = load_lfw_templates(
        args.lfw_dir or datasets.lfw_dir(), embedder=args.embedder, cache_dir=args.cache_dir, workers=args.workers,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"{len(templates.paths)} images, {int(templates.ok.sum())} with a template")


if __name__ == "__main__":
    main()
