"""The evaluation toolkit on ../shared data: per-group errors, masks, degradations, latency budgets.

Writes ``report.json`` and an offline ``report.html`` into ``--out`` (default
``build/eval-toolkit``). LFW runs use ``--folds`` (0-based, default ``0,1``: 1,200 of the 6,000
pairs, so ``make eval`` stays well under an hour on 2 cores; ``--folds all`` for the full set).
Templates are cached under ``--cache-dir`` (default ``<cache>/countenance/measure``), so a
second run only recomputes what changed. The per-group section runs on the fixture people
with the labels of ``--labels`` (default: a file the script writes from the fixture README's
people, split into two arbitrary sets: a demonstration of the mechanics, not a demographic
claim).

    python scripts/eval_toolkit.py [--only budget,masks,degrade,groups] [--folds 0,1|all]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from countenance.datasets import fixtures_dir  # noqa: E402
from countenance.evaluate.report import write_report  # noqa: E402

STEPS = ("groups", "masks", "degrade", "budget")


def progress(step: str, done: int, total: int, _last: dict[str, float] = {}) -> None:  # noqa: B006 - throttle state
    now = time.monotonic()
    if done >= total or now - _last.get(step, 0.0) > 20:
        _last[step] = now
        print(f"  {step}: {done}/{total}", file=sys.stderr, flush=True)


def demo_labels(folder: Path) -> Path:
    people = fixtures_dir() / "people"
    first = {"obama", "biden", "alex_lacamoire", "kate_siegel", "paul_rudd"}
    lines = ["image,group"] + [
        f"{p.parent.name}/{p.name},{'set-1' if p.parent.name in first else 'set-2'}" for p in sorted(people.glob("*/*"))
    ]
    path = folder / "fixture-people-labels.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(STEPS))
    parser.add_argument("--folds", default="0,1")
    parser.add_argument("--out", type=Path, default=Path("build/eval-toolkit"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # this script's own setting: UltraFace's graph warnings are noise
    folds = None if args.folds == "all" else tuple(int(f) for f in args.folds.split(","))
    steps = [s for s in args.only.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown step(s) {sorted(unknown)}; choose from {', '.join(STEPS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    previous = args.out / "report.json"
    if previous.is_file():  # keep the sections not rerun this time
        results = {k: v for k, v in json.loads(previous.read_text()).items() if k in STEPS}
    common = {"cache_dir": args.cache_dir, "workers": args.workers}
    for step in steps:
        start = time.perf_counter()
        print(f"{step} ...", file=sys.stderr, flush=True)
        if step == "groups":
            from countenance.evaluate.run_groups import GroupsOptions, run_groups

            labels = args.labels or demo_labels(args.out)
            result = run_groups(GroupsOptions(fixtures_dir() / "people", labels, **common))
        elif step == "masks":
            from countenance.evaluate.run_masks import MasksOptions, run_masks

            result = run_masks(MasksOptions(folds=folds, **common), progress)
        elif step == "degrade":
            from countenance.evaluate.run_degrade import DegradeOptions, run_degrade

            result = run_degrade(DegradeOptions(folds=folds, **common), progress)
        else:
            from countenance.evaluate.run_budget import BudgetOptions, run_budget

            result = run_budget(BudgetOptions(folds=folds, repeats=args.repeats, **common), progress)
        results[step] = result.to_dict()
        print(f"{step}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        json_path, html_path = write_report({k: results[k] for k in STEPS if k in results}, args.out)
    print(f"wrote {json_path} and {html_path}")


if __name__ == "__main__":
    main()
