"""Reports: one JSON document and one offline HTML page (plots embedded as base64 PNG).

Plots are drawn with matplotlib's object API (``Figure`` + Agg canvas): no pyplot, no global
backend switch. Each ``plot_*`` function takes a result's ``to_dict()`` and returns PNG bytes,
so a report can be rebuilt from saved JSON.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["plot_det", "plot_degradation", "plot_budget", "plot_groups", "plot_cross_group", "write_report"]


def _figure(width: float = 6.4, height: float = 4.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_det(conditions: list[Mapping[str, Any]], title: str = "DET") -> bytes:
    """FNMR against FMR (log scale) for each condition's ``det_fmr_fnmr`` points."""
    figure = _figure()
    axes = figure.add_subplot()
    for condition in conditions:
        points = [(f, n) for f, n in condition.get("det_fmr_fnmr", []) if f > 0]
        if points:
            fmr, fnmr = zip(*points)
            axes.plot(fmr, fnmr, label=condition["condition"])
    axes.set_xscale("log")
    axes.set_xlabel("FMR (false match rate)")
    axes.set_ylabel("FNMR (false non-match rate)")
    axes.set_ylim(0, 1)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def plot_degradation(result: Mapping[str, Any]) -> bytes:
    """One panel per degradation: FNMR at the clean threshold and 1 - accuracy against the level."""
    curves = result["curves"]
    figure = _figure(3.2 * max(1, len(curves)), 3.4)
    clean = result["clean"]
    for k, curve in enumerate(curves):
        axes = figure.add_subplot(1, len(curves), k + 1)
        levels = [r["condition"] if curve["kind"].startswith("occlude") else
                  str(int(level) if curve["kind"] in ("jpeg", "iod") else level)
                  for level, r in zip(curve["levels"], curve["results"])]
        fnmr = [r["at_fixed_threshold"]["fnmr"] for r in curve["results"]]
        error = [1 - r["accuracy"] for r in curve["results"]]
        axes.plot(levels, fnmr, "o-", label="FNMR at clean threshold")
        axes.plot(levels, error, "s--", label="1 - accuracy")
        axes.axhline(clean["at_fixed_threshold"]["fnmr"], color="grey", lw=0.8, ls=":", label="clean FNMR")
        axes.set_title(curve["kind"])
        axes.set_ylim(0, 1)
        if k == 0:
            axes.legend(fontsize=7)
    return _png(figure)


def plot_budget(result: Mapping[str, Any]) -> bytes:
    """Latency (log) against FNMR at the target FMR; the frontier joined; budgets as vertical lines."""
    figure = _figure()
    axes = figure.add_subplot()
    rows = [r for r in result["pipelines"] if r["fnmr_at_fmr"] is not None]
    for row in rows:
        axes.scatter(row["median_ms"], row["fnmr_at_fmr"], marker="o" if row["admitted"] else "x")
        axes.annotate(row["pipeline"], (row["median_ms"], row["fnmr_at_fmr"]), fontsize=6)
    front = [r for name in result["frontier"] for r in rows if r["pipeline"] == name]
    if front:
        axes.plot([r["median_ms"] for r in front], [r["fnmr_at_fmr"] for r in front], "k-", lw=1, label="frontier")
    for budget in result["budgets"]:
        axes.axvline(budget["budget_ms"], color="grey", ls=":", lw=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("median latency per image, one thread (ms)")
    axes.set_ylabel(f"FNMR at FMR = {result['target_fmr']:g}")
    axes.set_title(f"Speed / accuracy ({result['cpu']})", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    return _png(figure)


def plot_groups(result: Mapping[str, Any]) -> bytes:
    """FMR and FNMR per group with their bootstrap intervals."""
    figure = _figure(7.0, 3.4)
    for k, what in enumerate(("fmr", "fnmr")):
        axes = figure.add_subplot(1, 2, k + 1)
        groups = [g for g in result["groups"] if g[what] is not None]
        values = [g[what] for g in groups]
        lows = [g[what] - (g[f"{what}_interval"] or {"low": g[what]})["low"] for g in groups]
        highs = [((g[f"{what}_interval"] or {}).get("high") or g[what]) - g[what] for g in groups]
        axes.bar([g["group"] for g in groups], values, yerr=[lows, highs], capsize=3)
        axes.set_title(f"{what.upper()} per group at threshold {result['threshold']:.3f}", fontsize=9)
    return _png(figure)


def plot_cross_group(result: Mapping[str, Any]) -> bytes:
    """The cross-group impostor FMR matrix as a heat map (blank where there is no comparison)."""
    import numpy as np

    matrix = result["cross_group_fmr"]
    groups = matrix["groups"]
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix["fmr"]], dtype=float)
    figure = _figure(4.8, 4.0)
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="viridis")
    axes.set_xticks(range(len(groups)), groups, rotation=45, fontsize=7)
    axes.set_yticks(range(len(groups)), groups, fontsize=7)
    for i in range(len(groups)):
        for j in range(len(groups)):
            if not np.isnan(values[i, j]):
                axes.text(j, i, f"{values[i, j]:.3g}", ha="center", va="center", fontsize=7, color="w")
    figure.colorbar(image, ax=axes, label="FMR")
    axes.set_title("Cross-group impostor FMR", fontsize=9)
    return _png(figure)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _section(name: str, result: Mapping[str, Any]) -> str:
    parts = [f"<h2>{html.escape(name)}</h2>"]
    if "curves" in result:  # degradations
        rows = [[r["condition"], r["median_iod_px"], r["accuracy"], r["at_fixed_threshold"]["fnmr"],
                 r["at_fixed_threshold"]["fmr"], r["fnmr_at_fmr"]["fnmr"], r["detection_rate"]]
                for r in [result["clean"]] + [r for c in result["curves"] for r in c["results"]]]
        parts.append(_table(["condition", "median IOD px", "accuracy", "FNMR @ clean thr", "FMR @ clean thr",
                             "FNMR @ own FMR thr", "detected"], rows))
        minimum = result["minimum_face_size"]
        parts.append(f"<p>Smallest inter-ocular distance meeting the error rates: <b>{_fmt(minimum['iod_px'])} px</b> "
                     f"({html.escape(minimum['reason'])}).</p>")
        parts.append(_img(plot_degradation(result), "degradation curves"))
        parts.append(_img(plot_det([result["clean"]] + [c["results"][-1] for c in result["curves"]], "DET"), "DET"))
    elif "conditions" in result:  # masks
        rows = [[c["condition"], c["accuracy"], c["fnmr_at_fmr"]["fnmr"], c["at_fixed_threshold"]["fnmr"],
                 c["at_fixed_threshold"]["fmr"], c["detection_rate"]] for c in result["conditions"]]
        parts.append(_table(["condition", "accuracy", "FNMR @ FMR target", "FNMR @ clean thr", "FMR @ clean thr",
                             "detected"], rows))
        detection = result.get("detection_on_real_masked_photos", [])
        if detection:
            parts.append(_table(["detector", "folder", "found", "images", "rate"],
                                [[d["detector"], d["folder"], d["found"], d["images"], d["rate"]] for d in detection]))
        parts.append(_img(plot_det(result["conditions"], "DET: masks"), "DET masks"))
    elif "pipelines" in result:  # budget
        parts.append(_table(["budget ms", "chosen", "median ms", "FNMR @ FMR target", "accuracy"],
                            [[b["budget_ms"]] + ([b["chosen"]["pipeline"], b["chosen"]["median_ms"],
                              b["chosen"]["fnmr_at_fmr"], b["chosen"]["accuracy"]] if b["chosen"] else ["none fits"])
                             for b in result["budgets"]]))
        parts.append(_table(["pipeline", "median ms", "p10 ms", "p90 ms", "FNMR", "accuracy", "admitted", "note"],
                            [[r["pipeline"], r["median_ms"], r.get("p10_ms"), r["p90_ms"], r["fnmr_at_fmr"], r["accuracy"], r["admitted"],
                              r["note"]] for r in result["pipelines"]]))
        parts.append(_img(plot_budget(result), "budget frontier"))
    elif "groups" in result:
        parts.append(_table(["group", "FMR", "impostors", "FNMR", "genuine"],
                            [[g["group"], g["fmr"], g["impostors"], g["fnmr"], g["genuine"]] for g in result["groups"]]))
        for key in ("fmr_ratio", "fnmr_ratio"):
            ratio = result[key]
            parts.append(f"<p>{key}: {_fmt(ratio['value'])} ({html.escape(str(ratio['max_group']))} / "
                         f"{html.escape(str(ratio['min_group']))}) {html.escape(ratio['reason'])}</p>")
        parts.append(_img(plot_groups(result), "per-group rates"))
        parts.append(_img(plot_cross_group(result), "cross-group matrix"))
    parts.append(f"<details><summary>JSON</summary><pre>{html.escape(json.dumps(_short(result), indent=1))}</pre></details>")
    return "\n".join(parts)


def _short(value: Any) -> Any:
    """The result without its DET point lists (they are in the JSON file)."""
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items() if k != "det_fmr_fnmr"}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def write_report(results: Mapping[str, Mapping[str, Any]], out_dir: str | Path, title: str = "Countenance evaluation") -> tuple[Path, Path]:
    """Write ``report.json`` (``{name: result dict}``) and ``report.html`` into ``out_dir``; return both paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "report.json", folder / "report.html"
    json_path.write_text(json.dumps(results, indent=1, allow_nan=False))
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;font-size:13px}" \
            "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"
    body = "\n".join(_section(name, result) for name, result in results.items())
    html_path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                         f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return json_path, html_path
