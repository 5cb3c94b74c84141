"""Self-contained HTML: the sections' Markdown rendered to HTML, figures embedded as base64 PNG.

The page needs no network and no script: it opens offline in any browser. The Markdown subset
the sections use (headings, paragraphs, bullet lists, pipe tables, **bold**, *italic*, `code`)
is rendered by the small converter below, so no Markdown library is needed.

Figure layout: each figure is shown at its intended width (``ReportImage.width_px``, one figure
inch = 96 CSS px, see ``report/plots.py``), so its text has its point size on the page; the
content column is 1,300 px wide, figures wider than 60 % of it take a row of their own, smaller
ones sit side by side. A click enlarges a figure to the whole window (a hidden checkbox and
CSS, no script) and a second click puts it back.
"""

from __future__ import annotations

import base64
import html
import re
from typing import NamedTuple

CONTENT_WIDTH_PX = 1300  # the page's content column; no figure is wider (plots.MAX_FIGURE_INCHES)


class ReportImage(NamedTuple):
    caption: str
    png: bytes
    width_px: int  # intended CSS width (figure inches × 96)


_CSS = f"""
body{{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:{CONTENT_WIDTH_PX}px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}}
h1{{border-bottom:2px solid #444}}h2{{border-bottom:1px solid #ccc;margin-top:2em}}
table{{border-collapse:collapse;margin:1em 0;font-size:0.9em}}
th,td{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f3f3f3}}
td:first-child,th:first-child{{text-align:left}}
figure{{display:inline-block;margin:0.6em 0.4em;vertical-align:top;max-width:100%}}
figure.wide{{display:block;margin:1em auto}}
figure img{{display:block;width:100%;height:auto;cursor:zoom-in}}
figcaption{{font-size:0.85em;color:#555}}
.zoom input{{display:none}}
.zoom input:checked+img{{position:fixed;top:0;left:0;width:100vw;height:100vh;object-fit:contain;
background:#fff;z-index:10;padding:1em;box-sizing:border-box;cursor:zoom-out}}
.notrun{{color:#8a6d3b;background:#fcf8e3;padding:0.5em;border-radius:4px}}
nav ul{{columns:2}}code{{background:#f5f5f5;padding:0 3px}}
"""


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", text)
    return text


def markdown_to_html(md: str) -> str:
    """Render the Markdown subset used by report sections."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            rows = [[c.strip() for c in r.strip().strip("|").split("|")] for r in block]
            rows = [r for r in rows if not all(re.fullmatch(r":?-+:?", c) for c in r if c)]
            head, body = rows[0], rows[1:]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head)
                       + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body]
            out.append("</tbody></table>")
            continue
        if re.match(r"^\s*[-*] ", line):
            out.append("<ul>")
            while i < len(lines) and re.match(r"^\s*[-*] ", lines[i]):
                item = re.sub(r"^\s*[-*] ", "", lines[i])
                out.append(f"<li>{_inline(item)}</li>")
                i += 1
            out.append("</ul>")
            continue
        m = re.match(r"^(#{1,6}) (.*)", line)
        if m:
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif line.strip():
            para = [line]
            while i + 1 < len(lines) and lines[i + 1].strip() and not re.match(
                    r"^(\||#|\s*[-*] )", lines[i + 1]):
                i += 1
                para.append(lines[i])
            out.append(f"<p>{_inline(' '.join(para))}</p>")
        i += 1
    return "\n".join(out)


def figure_html(image: ReportImage) -> str:
    """One figure at its intended width (never wider than the column), click to enlarge."""
    width = min(int(image.width_px), CONTENT_WIDTH_PX)
    # a figure with no room for a neighbour (over 60 % of the column) is centred on its own row
    kind = "wide" if width > 0.6 * CONTENT_WIDTH_PX else "narrow"
    data = base64.b64encode(image.png).decode("ascii")
    alt = html.escape(image.caption, quote=True)
    return (f"<figure class='{kind}' style='width:{width}px'><label class='zoom' "
            f"title='click to enlarge'><input type='checkbox'><img alt='{alt}' "
            f"data-intended-width='{width}' src='data:image/png;base64,{data}'></label>"
            f"<figcaption>{_inline(image.caption)}</figcaption></figure>")


def render_html(title: str, sections: list, images: dict[int, list[ReportImage]]) -> str:
    """The full page. ``images[i]`` holds the figures of section i."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><nav><ul>"]
    for i, s in enumerate(sections):
        parts.append(f"<li><a href='#s{i}'>{html.escape(s.title)}</a>"
                     + ("" if s.ran else " (not run)") + "</li>")
    parts.append("</ul></nav>")
    for i, s in enumerate(sections):
        parts.append(f"<section id='s{i}'><h2>{html.escape(s.title)}</h2>")
        body = markdown_to_html(s.markdown)
        parts.append(f"<div class='notrun'>{body}</div>" if not s.ran else body)
        parts += [figure_html(image) for image in images.get(i, [])]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
