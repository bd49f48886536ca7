"""The self-contained HTML report: metric tables and per-sample cards (images embedded as PNG).

    html = render_report(ReportData(bench="vrt-bench", metrics=..., by_class=..., counts=...,
                                    settings={...}, worst=cards[:5], best=cards[-5:]))

Deterministic: the same inputs give the same bytes (no timestamps, fixed colours).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from evaluation import render
from evaluation.cards import Card
from evaluation.trace import SEG

CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}.card{border:1px solid #ddd;border-radius:6px;padding:12px;margin:14px 0}
.panels{display:flex;gap:12px;flex-wrap:wrap}.panels figure{margin:0}figcaption{font-size:12px;color:#555}
.trace{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:13px;background:#f7f7f7;padding:8px}
.chip{color:#fff;border-radius:9px;padding:0 6px;text-decoration:none;font-size:12px}
.thumbs{display:flex;gap:6px;flex-wrap:wrap}.thumbs figure{margin:0}.muted{color:#777}
"""


NOTES = {
    "vrt-bench": "Per-GT IoUs after Hungarian matching (1 − IoU) per sample, pooled over the benchmark. "
    "LQ: share of GT objects with IoU > 0.5; SQ: mean IoU of those; A-mIoU: mean IoU of all GT answer "
    "objects. Masks after the answer span are dropped; no answer span scores every GT object 0.",
    "reasonseg": "gIoU: mean of per-sample I/U; cIoU: ΣI / ΣU. The prediction is the union of the answer "
    "masks; no answer span predicts nothing.",
}


@dataclass(frozen=True)
class ReportData:
    bench: str
    metrics: dict
    counts: dict
    settings: dict[str, str]
    worst: list[Card]
    best: list[Card]
    by_class: dict = field(default_factory=dict)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img src="{render.data_uri(png)}" alt="{html.escape(alt)}">'


def _trace_html(card: Card, anchor: str) -> str:
    parts, rest, k = [], card.text, 0
    while SEG in rest and k < len(card.segs):
        before, rest = rest.split(SEG, 1)
        seg = card.segs[k]
        parts.append(html.escape(before))
        parts.append(
            f'<a class="chip" href="#{anchor}-m{k + 1}" style="background:{render.hex_colour(seg.rgb)}" '
            f'title="{html.escape(card.seg_titles[k])}">[SEG {k + 1}]</a>'
        )
        k += 1
    parts.append(html.escape(rest))
    return "".join(parts) if card.text else '<span class="muted">(no prediction)</span>'


def card_panels_png(card: Card, max_side: int = 480) -> bytes:
    """GT (left) and prediction (right) panels of one card as one PNG."""
    base = render.base_image(card.image, card.height, card.width, max_side)
    return render.png_bytes(
        render.side_by_side(render.overlay(base, list(card.gt)), render.overlay(base, list(card.pred)))
    )


def _card_html(card: Card, anchor: str) -> str:
    base = render.base_image(card.image, card.height, card.width, 480)
    small = render.base_image(card.image, card.height, card.width, 140)
    panels = "".join(
        f"<figure>{_img(render.png_bytes(render.overlay(base, list(layers))), cap)}<figcaption>{cap}</figcaption></figure>"
        for cap, layers in (("ground truth", card.gt), ("prediction (scored masks)", card.pred))
    )
    thumbs = "".join(
        f'<figure id="{anchor}-m{k + 1}">{_img(render.png_bytes(render.overlay(small, [seg])), f"mask {k + 1}")}'
        f"<figcaption>{html.escape(card.seg_titles[k])}</figcaption></figure>"
        for k, seg in enumerate(card.segs)
    )
    return (
        f'<div class="card" id="{anchor}"><h3>{html.escape(card.id)}</h3>'
        f"<p><b>Q:</b> {html.escape(card.question)}</p><p>{html.escape(card.summary)}</p>"
        f'<div class="panels">{panels}</div><div class="trace">{_trace_html(card, anchor)}</div>'
        f'<div class="thumbs">{thumbs}</div></div>'
    )


def render_report(data: ReportData) -> str:
    """The whole page as a string."""
    settings = _table(["setting", "value"], [[k, str(v)] for k, v in data.settings.items()])
    metrics = _table(["metric", "value (%)"], [[k, _pct(v)] for k, v in data.metrics.items()])
    counts = _table(["count", "value"], [[k, str(v)] for k, v in data.counts.items()])
    note = f'<p class="muted">{html.escape(NOTES.get(data.bench, ""))}</p>'
    sections = [f"<h1>{html.escape(data.bench)} evaluation</h1>", settings, "<h2>Metrics</h2>", note, metrics]
    if data.by_class:
        names = [k for k in data.metrics if k in next(iter(data.by_class.values()))]
        rows = [
            [cls, str(v.get("samples", ""))] + [_pct(v[n]) for n in names] for cls, v in data.by_class.items()
        ]
        sections += ["<h2>Per class</h2>", _table(["class", "samples"] + names, rows)]
    sections += ["<h2>Counts</h2>", counts]
    for title, cards, tag in (("Worst samples", data.worst, "w"), ("Best samples", data.best, "b")):
        sections.append(f"<h2>{title}</h2>")
        sections += [_card_html(c, f"{tag}{i + 1}") for i, c in enumerate(cards)] or [
            '<p class="muted">none</p>'
        ]
    head = f"<meta charset='utf-8'><title>{html.escape(data.bench)} evaluation</title><style>{CSS}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{''.join(sections)}</body></html>\n"
