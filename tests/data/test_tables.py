"""CSV tables are streamed: the header is checked at once, rows come one at a time, errors name the line."""

from __future__ import annotations

import pytest

from seafloorhmc.data.errors import AnnotationFormatError
from seafloorhmc.data.tables import parse_table, read_text, stream_csv_rows


def test_rows_are_read_lazily_and_a_bad_row_is_named_when_reached(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Image,Labels\na.png,x\n\nb.png,y\nc.png,z,extra\n")
    header, rows = stream_csv_rows(path, required=("image",))
    assert header == ["image", "labels"]
    first, second = next(rows), next(rows)
    assert (first.where, first.get("image"), second.where, second.get("labels")) == (f"{path}:2", "a.png",
                                                                                      f"{path}:4", "y")
    with pytest.raises(AnnotationFormatError, match=r"t\.csv:5: row has 3 fields but the header has 2"):
        next(rows)


def test_header_problems_are_found_before_any_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("image,image\na,b\n")
    with pytest.raises(AnnotationFormatError, match=r"t\.csv:1: column 'image' appears twice"):
        stream_csv_rows(path)
    path.write_text("\n\n  \n")
    with pytest.raises(AnnotationFormatError, match=r"t\.csv: the file is empty"):
        stream_csv_rows(path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "utf-16"])
def test_streaming_reads_what_reading_the_whole_text_reads(tmp_path, encoding):
    path = tmp_path / "t.csv"
    text = 'image,labels,note\n"a,1.png",Biota > Sponges,"two\nlines"\nb.png,Biota,é\n'
    path.write_bytes(text.encode(encoding))
    header, streamed = stream_csv_rows(path, encoding=encoding)
    reference_header, reference = parse_table(read_text(path, encoding), path)
    assert header == reference_header
    assert [(r.line, dict(r.values)) for r in streamed] == [(r.line, dict(r.values)) for r in reference]


def test_a_bad_byte_is_named_by_its_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"image,labels\na.png,x\nb.png,\xff\n")
    with pytest.raises(AnnotationFormatError, match=r"t\.csv:3: not valid utf-8-sig text; re-save the file as UTF-8"):
        list(stream_csv_rows(path)[1])  # decoding runs a block ahead of the rows; the error names the line
