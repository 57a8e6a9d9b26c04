"""An offline HTML report: every finding with the faces side by side.

One self-contained file: styles inline, face crops as base64 JPEG ``data:`` URIs, no script,
no external asset, so it opens anywhere without a network. A mislabelled photo is shown next
to photos its folder keeps and to the folder it agrees with; an outlier next to photos its
folder keeps; a near-duplicate group
shows every copy; two folders of one person show a few faces of each.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

from ..errors import CountenanceError
from ..image import load_image
from .findings import DUPLICATE_IDENTITY, KINDS, MISLABEL, NEAR_DUPLICATE, OUTLIER
from .report import CleanReport
from .templates import PhotoFaces

__all__ = ["write_html", "render_html"]

_CROP_PX = 112
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table.summary td{padding:2px 10px}
.finding{border:1px solid #ccc;border-radius:6px;padding:8px 10px;margin:10px 0}
.finding p{margin:4px 0}.faces{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-end}
figure{margin:0;text-align:center;font-size:11px;max-width:130px;overflow-wrap:anywhere}
figure.flagged img{outline:3px solid #c00}img{display:block;margin:auto}
.group{border-left:3px solid #888;padding-left:6px}
.muted{color:#666}
"""


def _crop_uri(record: PhotoFaces, face: int) -> str | None:
    """A JPEG data URI of face ``face`` of ``record`` (box with a 20% margin), or of the whole
    photo when ``face`` is -1; None when the image cannot be read."""
    from PIL import Image

    try:
        pixels = load_image(record.photo.path)
    except CountenanceError:
        return None
    image = Image.fromarray(pixels)
    if 0 <= face < len(record.faces):
        box = record.faces[face].box
        margin_x, margin_y = box.width * 0.2, box.height * 0.2
        image = image.crop((int(max(0, box.left - margin_x)), int(max(0, box.top - margin_y)),
                            int(min(image.width, box.right + margin_x)), int(min(image.height, box.bottom + margin_y))))
    image.thumbnail((_CROP_PX, _CROP_PX))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(record: PhotoFaces, face: int, caption: str, flagged: bool = False) -> str:
    uri = _crop_uri(record, face)
    image = f'<img src="{uri}" alt="{html.escape(caption)}">' if uri else '<div class="muted">(unreadable)</div>'
    return f'<figure class="{"flagged" if flagged else ""}">{image}<figcaption>{html.escape(caption)}</figcaption></figure>'


def _examples(report: CleanReport, label: str, count: int, removed: set[str]) -> list[PhotoFaces]:
    return [r for r in report.records if r.photo.label == label and r.faces and r.photo.relpath not in removed][:count]


def render_html(report: CleanReport, *, max_findings: int = 500, examples: int = 4) -> str:
    """The report as one HTML document (see the module doc); at most ``max_findings`` findings
    are drawn (the most confident of each kind first), the rest are counted."""
    records = {r.photo.relpath: r for r in report.records}
    removed = set(report.removed_items())
    counts = report.counts()
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Countenance clean: {html.escape(report.root)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Data set check: {html.escape(report.root)}</h1>",
        f"<p>{report.photos} photos in {report.labels} folders; model {html.escape(report.model)}, detector "
        f"{html.escape(report.detector)}; pair cut {report.cut_distance:.3f} ({html.escape(report.metric)}"
        + (f", stranger FMR {report.cut_fmr:g}" if report.cut_fmr is not None else "") + "). "
        f"{len(removed)} photos would be left out of a cleaned copy. Nothing has been moved or deleted.</p>",
        '<table class="summary">' + "".join(f"<tr><td>{kind}</td><td>{counts[kind]}</td></tr>" for kind in KINDS) + "</table>",
    ]
    drawn = 0
    for kind in KINDS:
        findings = report.of_kind(kind)
        if not findings:
            continue
        parts.append(f"<h2>{html.escape(kind)} ({len(findings)})</h2>")
        for finding in findings:
            if drawn >= max_findings:
                parts.append(f'<p class="muted">{len(findings)} in all; not every one is drawn.</p>')
                break
            drawn += 1
            faces = []
            if kind == DUPLICATE_IDENTITY:
                for label in finding.labels:
                    group = [_figure(r, report.chosen_faces.get(r.photo.relpath, 0), f"{label}: {r.photo.path.name}")
                             for r in _examples(report, label, examples, removed)]
                    faces.append(f'<div class="faces group">{"".join(group)}</div>')
            else:
                for item, face in zip(finding.items, finding.faces or (-1,) * len(finding.items)):
                    record = records.get(item)
                    if record is not None:
                        faces.append(_figure(record, face, item, flagged=kind != NEAR_DUPLICATE or item != finding.items[0]))
                if kind in (MISLABEL, OUTLIER):
                    for label, title in ((finding.labels[0], "kept in"), (finding.suggested_label, "agrees with")):
                        if label:
                            group = [_figure(r, report.chosen_faces.get(r.photo.relpath, 0), f"{title} {label}: {r.photo.path.name}")
                                     for r in _examples(report, label, examples, removed)]
                            faces.append(f'<div class="faces group">{"".join(group)}</div>')
            parts.append(
                f'<div class="finding"><p><b>{html.escape(", ".join(finding.labels))}</b> '
                f"confidence {finding.confidence:.2f}: {html.escape(finding.reason)}</p>"
                f'<div class="faces">{"".join(faces)}</div></div>'
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: CleanReport, path: str | os.PathLike[str], *, max_findings: int = 500, examples: int = 4) -> Path:
    """Write :func:`render_html` to ``path`` (folders created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report, max_findings=max_findings, examples=examples), encoding="utf-8")
    return target
