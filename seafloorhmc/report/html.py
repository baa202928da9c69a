"""A tiny HTML vocabulary for the reports: escaped tables, figures, sections and one page template.

Why not Jinja or a notebook: three static pages with tables and pictures do not need a template
engine or a new dependency. Every value passes through :func:`html.escape`; pictures are relative
links (``plots/x.png``) or ``data:`` URIs, so a report folder can be copied and opened anywhere.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from string import Template

from ..utils.atomic import write_text

__all__ = ["esc", "fmt", "table", "kv_table", "figure", "note", "section", "page", "write_html", "MISSING"]

MISSING = "–"

_STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #2f6f9f; --bad: #b3261e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); margin: 0; background: #f5f7fa; }
header { background: #16324f; color: white; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9d6e3; font-size: 13px; }
main { padding: 8px 28px 40px; max-width: 1500px; }
section { background: white; border: 1px solid var(--line); border-radius: 6px; padding: 14px 18px;
          margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 10px; color: #16324f; }
h3 { font-size: 14px; margin: 12px 0 6px; color: var(--muted); }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
caption { text-align: left; font-weight: 600; color: var(--muted); padding-bottom: 4px; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #eef2f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.rare td:first-child::after { content: " ★"; color: #c77700; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid var(--line); }
.scroll table { margin: 0; }
.scroll th { position: sticky; top: 0; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 4px; padding: 8px; background: white; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figure.wide { grid-column: 1 / -1; }
.pan-x { overflow-x: auto; }
.pan-x img { max-width: none; }
.pan-y { max-height: 900px; overflow-y: auto; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 6px; }
.note { color: var(--muted); font-style: italic; }
.missing { border: 1px dashed var(--bad); color: var(--bad); padding: 12px; border-radius: 4px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: white; font-size: 12px; }
.card img { width: 100%; height: auto; display: block; border-radius: 3px; background: #e4e7eb;
            image-rendering: auto; }
.card .thumb-missing { height: 140px; display: flex; align-items: center; justify-content: center;
                       text-align: center; background: #fbeaea; color: var(--bad); padding: 6px; }
.card .name { font-weight: 600; word-break: break-all; margin-top: 6px; }
.card ul { margin: 4px 0; padding-left: 16px; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px; font-weight: 600; }
.badge.review { background: #fde8c8; color: #8a4b00; }
.badge.ok { background: #dff3e4; color: #1e6b35; }
code { font-size: 12px; background: #eef2f7; padding: 0 3px; border-radius: 3px; }
details summary { cursor: pointer; color: var(--accent); }
"""

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="seafloorhmc">
<title>$title</title>
<style>$style</style>
</head>
<body>
<header>
<h1>$title</h1>
<p>$subtitle</p>
</header>
<main>
$body
</main>
</body>
</html>
""")


def esc(value: object) -> str:
    """Escape a value for HTML content or a quoted attribute.

    Args:
        value: Anything; converted with ``str``.

    Returns:
        The escaped text.
    """
    return html.escape(str(value), quote=True)


def fmt(value: object, digits: int = 4) -> str:
    """Format a table cell: floats to ``digits`` decimals, None/NaN as a dash, the rest as text.

    Args:
        value: The cell.
        digits: Decimals of floats.

    Returns:
        The text (not escaped).
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return MISSING if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], table_id: str | None = None,
          caption: str | None = None, row_classes: Sequence[str | None] | None = None,
          digits: int = 4) -> str:
    """An HTML table; numeric cells are formatted by :func:`fmt` and right-aligned.

    Args:
        headers: Column titles.
        rows: One sequence of cells per row.
        table_id: ``id`` attribute, if any.
        caption: Caption, if any.
        row_classes: CSS class per row (None: no class).
        digits: Decimals of floats.

    Returns:
        The HTML.
    """
    rows = [list(r) for r in rows]
    numeric = [bool(rows) and all(_is_number(r[j]) or r[j] is None for r in rows) for j in range(len(headers))]
    head = "".join(f'<th class="num">{esc(h)}</th>' if numeric[j] else f"<th>{esc(h)}</th>"
                   for j, h in enumerate(headers))
    body = []
    for i, r in enumerate(rows):
        cls = row_classes[i] if row_classes is not None else None
        cells = "".join(f'<td class="num">{esc(fmt(v, digits))}</td>' if _is_number(v)
                        else f"<td>{esc(fmt(v, digits))}</td>" for v in r)
        body.append(f'<tr class="{esc(cls)}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    attr = f' id="{esc(table_id)}"' if table_id else ""
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table{attr}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kv_table(pairs: Mapping[str, object] | Iterable[tuple[str, object]], table_id: str | None = None,
             caption: str | None = None, headers: Sequence[str] = ("key", "value")) -> str:
    """A two-column key/value table.

    Args:
        pairs: A mapping or (key, value) pairs.
        table_id: ``id`` attribute, if any.
        caption: Caption, if any.
        headers: The two column titles.

    Returns:
        The HTML.
    """
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return table(headers, [[k, v] for k, v in items], table_id=table_id, caption=caption)


def figure(src: str, caption: str, alt: str, wide: bool = False, scroll: str | None = None) -> str:
    """A picture with a caption that opens at full size.

    Args:
        src: The picture's URL (a relative link or a ``data:`` URI).
        caption: The caption.
        alt: Alternative text.
        wide: Span the whole grid row.
        scroll: ``"x"`` keeps a very wide picture at its own size in a sideways-scrolling box
            (shrunk, its labels would be unreadable); ``"y"`` puts a very tall one in a box of
            limited height; None for neither.

    Returns:
        The HTML.

    Raises:
        ValueError: On another ``scroll`` value.
    """
    if scroll not in (None, "x", "y"):
        raise ValueError(f"scroll must be None, 'x' or 'y', got {scroll!r}")
    img = f'<a href="{esc(src)}"><img src="{esc(src)}" alt="{esc(alt)}"></a>'
    if scroll:
        img = f'<div class="pan-{scroll}">{img}</div>'
    cls = ' class="wide"' if wide or scroll else ""
    return f"<figure{cls}>{img}<figcaption>{esc(caption)}</figcaption></figure>"


def note(text: str, missing: bool = False) -> str:
    """A muted remark, or a red dashed box for something that should have been there.

    Args:
        text: The remark.
        missing: Draw it as the red box.

    Returns:
        The HTML.
    """
    return f'<div class="missing">{esc(text)}</div>' if missing else f'<p class="note">{esc(text)}</p>'


def section(title: str, *parts: str, section_id: str | None = None) -> str:
    """A titled box of the page.

    Args:
        title: The heading.
        *parts: HTML fragments, one after the other.
        section_id: ``id`` attribute, if any.

    Returns:
        The HTML.
    """
    attr = f' id="{esc(section_id)}"' if section_id else ""
    return f"<section{attr}><h2>{esc(title)}</h2>\n" + "\n".join(parts) + "\n</section>"


def page(title: str, subtitle: str, *parts: str) -> str:
    """The whole document, with the report style inline so it opens anywhere.

    Args:
        title: Page title and heading.
        subtitle: Line under the heading; the writing time is appended.
        *parts: HTML fragments of the body (sections).

    Returns:
        The HTML document.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return _PAGE.substitute(title=esc(title), subtitle=esc(f"{subtitle} · written {stamp}" if subtitle else stamp),
                            style=_STYLE, body="\n".join(parts))


def write_html(path: str | Path, text: str) -> Path:
    """Write a page atomically, so a browser (or a copy) never sees half a report.

    Args:
        path: The HTML file.
        text: The document.

    Returns:
        ``path`` as a path.
    """
    return write_text(path, text)
