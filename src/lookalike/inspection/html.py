"""The inspection report as one self-contained HTML page: the counts per kind, then for each kind a gallery
worst first — the two files side by side for copies (duplicates, leaks, conflicts), the measure beside the
picture for the rest. Thumbnails are embedded (JPEG data URIs): the page works offline, copied anywhere."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

from lookalike.errors import ImageError
from lookalike.inspection.findings import KINDS, Finding, InspectReport, relative_name
from lookalike.report import _thumbnail

__all__ = ["write_html"]

#: Findings shown per kind (the JSON has them all).
SHOWN = 60
THUMB = 112
COPIES = ("leak", "label_conflict", "exact_duplicates", "near_duplicates")
_ABOUT = {
    "leak": "a copy sits in another split (or the reference folder): it inflates the evaluation",
    "label_conflict": "a copy is filed under another class",
    "exact_duplicates": "the same bytes twice",
    "near_duplicates": "the same picture, re-encoded, resized, turned, cropped or framed",
    "outlier": "far from every other image in feature space, or from its own class",
    "blurry": "blurred far more than the folder's images",
    "dark": "hardly a pixel lit",
    "light": "washed out: no shadow",
    "low_information": "near blank",
    "grayscale": "no colour in a folder of colour images",
    "odd_size": "far more or fewer pixels than the folder's images",
    "odd_aspect_ratio": "far more elongated than the folder's images",
}


def _img(path: Path, cache: dict[Path, str]) -> str:
    if path not in cache:
        try:
            buf = io.BytesIO()
            _thumbnail(path, THUMB).convert("RGB").save(buf, "JPEG", quality=85)
            data = base64.b64encode(buf.getvalue()).decode("ascii")
            cache[path] = f'<img src="data:image/jpeg;base64,{data}" alt="">'
        except (ImageError, OSError) as exc:
            cache[path] = f'<div class="missing">{html.escape(str(exc))}</div>'
    return cache[path]


def _card(f: Finding, root: Path, cache: dict[Path, str]) -> str:
    ev = f.evidence
    if f.kind in COPIES and f.other is not None:
        parts = [ev.get("relation", "")]
        if f.kind == "leak":
            parts.append(f"{ev.get('split') or '—'} ← {ev.get('other_split') or '—'}")
        if f.kind == "label_conflict":
            parts.append(f"{ev.get('label')} vs {ev.get('other_label')}")
        return (
            f'<figure class="pair"><div>{_img(f.path, cache)}{_img(f.other, cache)}</div><figcaption>'
            f"<b>{html.escape(relative_name(f.path, root))}</b>"
            f"<span>copy of {html.escape(relative_name(f.other, root))}</span>"
            f"<span>{html.escape(' · '.join(p for p in parts if p))}</span></figcaption></figure>"
        )
    if f.kind == "outlier":
        detail = f"{ev.get('test')} · distance {ev.get('distance')} (line {ev.get('threshold')})"
        if ev.get("label") is not None:
            detail += f" · filed as {ev.get('label')}, nearest {ev.get('nearest_label')}"
    else:
        detail = f"{ev.get('why', '')}: {ev.get('value')} (line {ev.get('threshold')})"
    return (
        f"<figure>{_img(f.path, cache)}<figcaption><b>{html.escape(relative_name(f.path, root))}</b>"
        f"<span>{html.escape(detail)}</span></figcaption></figure>"
    )


def write_html(report: InspectReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report`` as a self-contained HTML page at ``path``."""
    root = report.folder
    counts = report.counts()
    cache: dict[Path, str] = {}
    rows = "".join(
        f'<tr><td><a href="#{k}">{k}</a></td><td>{counts[k]:,}</td><td>{html.escape(_ABOUT[k])}</td></tr>'
        for k in KINDS
    )
    sections = []
    for kind in KINDS:
        found = report.of_kind(kind)
        if not found:
            continue
        more = f"<p>… and {len(found) - SHOWN:,} more in the JSON</p>" if len(found) > SHOWN else ""
        cards = "\n".join(_card(f, root, cache) for f in found[:SHOWN])
        head = f"{kind} <small>{len(found):,} · {html.escape(_ABOUT[kind])}</small>"
        sections.append(
            f'<section id="{kind}"><h2>{head}</h2><div class="grid">{cards}</div>{more}</section>'
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    layout = report.layout
    title = f"lookalike inspect {root}"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }}
h1 {{ font-size: 1.3em; }}
h2 {{ font-size: 1.1em; margin-top: 1.6em; }}
h2 small {{ color: #666; font-weight: 400; }}
table {{ border-collapse: collapse; }}
td {{ padding: 2px 12px 2px 0; }}
td:nth-child(2) {{ text-align: right; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 10px; }}
figure {{ margin: 0; padding: 6px; background: #fff; border: 1px solid #ddd; border-radius: 6px;
  width: {THUMB + 12}px; }}
figure.pair {{ width: {2 * THUMB + 18}px; }}
figure.pair div {{ display: flex; gap: 6px; }}
img, .missing {{ display: block; width: {THUMB}px; height: {THUMB}px; object-fit: contain; }}
.missing {{ font-size: 10px; color: #b71c1c; overflow: hidden; }}
figcaption {{ font-size: 11px; margin-top: 4px; overflow-wrap: anywhere; }}
figcaption span {{ display: block; color: #555; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{report.images:,} images · layout: {html.escape(str(layout.get("kind")))}
{html.escape(", ".join(layout.get("splits") or []))} · {layout.get("label_count", 0)} labels ·
{report.seconds:.1f} s</p>
<table>{rows}</table>
<ul>{notes}</ul>
{"".join(sections)}
</body></html>
"""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
