"""Self-contained HTML pages: CSS and JavaScript inline, figures as base64 PNG data, and a Content-Security-Policy
that forbids every request (no CDN, no font, no image from anywhere), so a page opens offline and cannot leak what it
shows. Text is always escaped (``cts.reports.escape``). Hover text: any element with ``data-tip`` shows it in a
tooltip (and ``title``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cts.io import write_text
from cts.reports import escape

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;padding:16px 24px;
color:#1a202c}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:22px 0 6px;border-bottom:1px solid #e2e8f0}
.note{color:#4a5568}.warn{background:#fffaf0;border-left:4px solid #dd6b20;padding:6px 10px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}td,th{border:1px solid #e2e8f0;padding:3px 8px;
text-align:left}th{background:#f7fafc}td.num{text-align:right;font-variant-numeric:tabular-nums}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:8px}
figure{margin:10px 0}figure img{max-width:100%;border:1px solid #edf2f7}figcaption{color:#4a5568;font-size:12px}
#tip{position:fixed;display:none;background:#1a202c;color:#fff;padding:4px 8px;border-radius:4px;font-size:12px;
pointer-events:none;max-width:420px;z-index:10}
.timeline{display:grid;grid-template-columns:minmax(180px,38%) 1fr 90px;gap:1px 10px;align-items:center}
.timeline .event{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;cursor:default}
.timeline .track{position:relative;height:16px;background:linear-gradient(#edf2f7,#edf2f7) center/100% 1px
no-repeat}
.timeline .zero{position:absolute;top:0;bottom:0;width:2px;background:#2f855a}
.timeline .dot{position:absolute;top:3px;width:10px;height:10px;margin-left:-5px;border-radius:50%}
.timeline .before{background:#805ad5}.timeline .at{background:#2f855a}.timeline .after{background:#c05621}
.timeline .hours{text-align:right;font-variant-numeric:tabular-nums;color:#4a5568}
.axis{display:grid;grid-template-columns:minmax(180px,38%) 1fr 90px;gap:10px;color:#718096;font-size:11px}
.axis .ticks{position:relative;height:14px}.axis .ticks span{position:absolute;transform:translateX(-50%)}
.columns{display:flex;gap:24px;align-items:flex-start}.columns>div{flex:1;min-width:0}
pre.notetext{white-space:pre-wrap;font-size:12px;background:#f7fafc;padding:8px;max-height:80vh;overflow:auto}
mark{background:#fefcbf}mark.top{background:#f6e05e}
"""
TOOLTIP_SCRIPT = """
(function(){var tip=document.getElementById('tip');
document.addEventListener('mouseover',function(e){var t=e.target.closest('[data-tip]');
if(!t){tip.style.display='none';return;}tip.textContent=t.getAttribute('data-tip');tip.style.display='block';});
document.addEventListener('mousemove',function(e){tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});
})();
"""
TICKS = {-87600: "-10y", -720: "-1mo", -24: "-1d", 0: "0", 24: "1d", 720: "1mo", 87600: "10y"}  # ~2 decades apart


def png_data_uri(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def figure(path: str | Path, caption: str = "") -> str:
    """A PNG file inlined as data (the page keeps working when moved or opened offline)."""
    caption = caption or Path(path).stem.replace("_", " ")
    return (f'<figure><img alt="{escape.html(caption)}" src="{png_data_uri(path)}">'
            f"<figcaption>{escape.html(caption)}</figcaption></figure>")


def _cell(value) -> str:
    if isinstance(value, float):
        return f'<td class="num">{"" if math.isnan(value) else f"{value:,.4g}"}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value:,}</td>'
    return f"<td>{'' if value is None else escape.html(value)}</td>"


def table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """Rows (dicts) as an HTML table; ``columns`` picks and orders the keys (default: the first row's)."""
    if not rows:
        return '<p class="note">(none)</p>'
    columns = list(columns or rows[0])
    head = "".join(f"<th>{escape.html(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c)) for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(values: Mapping) -> str:
    """A two-column table of names and values (values shown as text, left-aligned)."""
    return table([{"": k, "value": "" if v is None else str(v)} for k, v in values.items()])


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{escape.html(title)}</h2>{''.join(parts)}</section>"


def figures(*parts: str) -> str:
    """Figures side by side where the page is wide enough."""
    return f'<div class="figures">{"".join(parts)}</div>'



def paragraph(text: str, css: str = "") -> str:
    return f'<p class="{css}">{escape.html(text)}</p>' if css else f"<p>{escape.html(text)}</p>"


def page(title: str, parts: Iterable[str], subtitle: str = "") -> str:
    """A complete page: the parts in order, the tooltip, no external resource of any kind."""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape.html(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape.html(title)}</h1>{paragraph(subtitle, 'note') if subtitle else ''}{''.join(parts)}"
            f'<div id="tip" role="tooltip"></div><script>{TOOLTIP_SCRIPT}</script></body></html>\n')


def write_page(path: str | Path, title: str, parts: Iterable[str], subtitle: str = "") -> Path:
    return write_text(path, page(title, parts, subtitle))


# -- one admission's timeline --------------------------------------------------------------------------------------
def _signed_log(hours: float) -> float:
    return math.copysign(math.log10(1 + abs(hours)), hours)


def _span(hours: float) -> str:
    """A rough human reading of a number of hours: ``≈3 days``, ``≈14 years``."""
    size = abs(hours)
    for unit, length in (("year", 8760), ("month", 720), ("week", 168), ("day", 24)):
        if size >= 2 * length:
            return f"≈{size / length:.0f} {unit}s"
    return f"{size:g} h"


def timeline(events: Sequence[tuple[str, float]], hours_text) -> str:
    """A row per event (time-sorted): its text, a dot on a symmetric-log track (admission = the green line), its
    hours. Hovering an event or its dot shows ``event — hours h (≈14 years before admission)``. ``hours_text`` formats
    an hour value (the timeline format's own)."""
    events = sorted(events, key=lambda e: e[1])
    limit = _signed_log(max([abs(h) for _, h in events] + [24.0]) * 1.5)

    def left(hours: float) -> float:
        return 50 + 50 * _signed_log(hours) / limit

    ticks = "".join(f'<span style="left:{left(h):.2f}%">{label}</span>'
                    for h, label in TICKS.items() if abs(_signed_log(h)) <= limit)
    rows = []
    for index, (event, hours) in enumerate(events):
        side = "before" if hours < 0 else "at" if hours == 0 else "after"
        shown = hours_text(hours)
        when = "at admission" if hours == 0 else f"{_span(hours)} {side} admission"
        tip = escape.html(f"{event} — {shown} h ({when})")
        rows.append(f'<div class="event" id="event-{index}" data-hours="{escape.html(shown)}" data-tip="{tip}" '
                    f'title="{tip}">{escape.html(event)}</div>'
                    f'<div class="track"><span class="zero" style="left:{left(0):.2f}%"></span>'
                    f'<span class="dot {side}" style="left:{left(hours):.2f}%" data-tip="{tip}"></span></div>'
                    f'<div class="hours">{escape.html(shown)} h</div>')
    axis = f'<div class="axis"><div>event</div><div class="ticks">{ticks}</div><div>hours</div></div>'
    return f'{axis}<div class="timeline">{"".join(rows)}</div>'


def highlighted_text(text: str, spans: Sequence[tuple[int, int, str, bool]]) -> str:
    """``text`` with the character ``spans`` ``(start, end, hover text, top)`` marked (overlaps merged into the
    first; ``top`` = a stronger highlight), all escaped."""
    out, position = [], 0
    for start, end, tip, top in sorted(spans):
        start = max(start, position)
        if start >= end:
            continue
        out.append(escape.html(text[position:start]))
        css = ' class="top"' if top else ""
        out.append(f'<mark{css} data-tip="{escape.html(tip)}">{escape.html(text[start:end])}</mark>')
        position = end
    out.append(escape.html(text[position:]))
    return f'<pre class="notetext">{"".join(out)}</pre>'
