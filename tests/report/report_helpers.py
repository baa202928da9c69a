"""Helpers of the report tests: a strict HTML parser that collects tables, a PNG check, and
builders for hand-written predictions CSVs and two-colour images."""

from __future__ import annotations

import csv
import html.parser
from pathlib import Path

import numpy as np
from PIL import Image

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr", "area", "base"}


class ReportParser(html.parser.HTMLParser):
    """Checks that every element is closed in order and collects tables (by id), images and links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "a":
            self.links.append(attrs.get("href", ""))
        if tag == "table":
            self._table = attrs.get("id") or f"anonymous-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._cell or []).strip())
            self._cell = None
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append(self._row or [])
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


def parse_html(path: Path) -> ReportParser:
    """Parse a report and assert it is a well-formed document."""
    parser = ReportParser()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    parser.close()
    assert parser.doctype, "missing <!DOCTYPE html>"
    assert not parser.problems, parser.problems
    assert not parser.stack, f"unclosed elements: {parser.stack}"
    assert len(parser.ids) == len(set(parser.ids)), "duplicate element ids"
    return parser


def table_dict(rows: list[list[str]]) -> dict[str, str]:
    """A key/value (or key/meaning/value) table as {first cell: last cell}, header row dropped."""
    return {r[0]: r[-1] for r in rows[1:]}


def assert_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG", path
        image.load()  # a full decode: a truncated file fails here
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 10, f"{path} is (nearly) one flat colour"


HEADER = ["image", "x", "y", "predicted", "uncertainty", "needs_review", "Machine suggestion 1",
          "Machine confidence 1", "Machine suggestion 2", "Machine confidence 2", "probabilities", "error"]
RED, BLUE = (220, 30, 30), (30, 30, 220)


def write_image(path, width=64, height=48):
    """Left half red, right half blue: a thumbnail's centre colour tells where it was cut."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = RED
    pixels[:, width // 2:] = BLUE
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_csv(path, rows, header=HEADER):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def row(image, x="", y="", predicted="Biota > Sponges", uncertainty="0.5", review="false", error=""):
    return [image, x, y, predicted, uncertainty, review, "Biota > Sponges", "61", "Biota > Echinoderms", "30",
            '{"Biota":0.9}', error]
