"""The CLI's plain-text tables: whole ids and numbers, fitted widths, no codes when piped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from cli.table import Cell, Column, render

narrow = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x24F, categories=["L", "N", "P"]),
    min_size=1,
    max_size=15,
)
wide = st.text("々漢字한글", min_size=1, max_size=8)
ids = st.text("0123456789abcdef-", min_size=8, max_size=36)


def phrases(word: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(word, min_size=1, max_size=6).map(" ".join)


def columns_of(lines: list[str]) -> list[list[str]]:
    """Each column's text, line by line, sliced at the rule line's segments."""
    rule = lines[1]
    spans, start = [], 0
    for segment in rule.split("  "):
        spans.append((start, start + len(segment)))
        start += len(segment) + 2
    return [[line[a:b].strip() for line in lines[2:]] for a, b in spans]


@given(st.lists(st.tuples(phrases(narrow), ids, phrases(narrow)), min_size=1, max_size=1))
def test_a_wrapped_cell_keeps_its_text_in_order_and_ids_stay_whole(
    rows: list[tuple[str, str, str]],
) -> None:
    columns = [Column("name"), Column("id", no_wrap=True), Column("note")]
    lines = render(columns, [[*r] for r in rows], width=60)
    name, ident, note = columns_of(lines)
    assert ident[0] == rows[0][1]
    assert "".join("".join(name).split()) == "".join(rows[0][0].split())
    assert "".join("".join(note).split()) == "".join(rows[0][2].split())


@given(st.lists(st.tuples(phrases(wide | narrow), ids, phrases(wide)), min_size=1, max_size=8))
def test_a_fitted_table_fits_the_terminal_when_it_can(rows: list[tuple[str, str, str]]) -> None:
    columns = [Column("name"), Column("id", no_wrap=True), Column("note")]
    lines = render(columns, [[*r] for r in rows], width=80)
    widest_id = max(cell_len(r[1]) for r in rows)
    if widest_id + 2 * 12 + 4 <= 80:
        assert all(cell_len(line) <= 80 for line in lines), "\n".join(lines)


def test_piped_tables_are_plain_and_terminal_ones_coloured() -> None:
    rows: list[list[str | Cell]] = [["Ada", Cell("-3", "red")]]
    plain = "\n".join(render([Column("who"), Column("balance")], rows))
    coloured = "\n".join(render([Column("who"), Column("balance")], rows, color=True))
    assert "\x1b[" not in plain and "-3" in plain
    assert "\x1b[31m" in coloured


def test_headers_of_two_lines_sit_on_the_rows_and_numbers_align_right() -> None:
    lines = render([Column("Days\nsince", justify="right"), Column("who")], [["7", "Ada"]])
    assert lines[0].strip() == "Days"
    assert lines[1].startswith("since")
    assert lines[3].startswith("    7  Ada")


def test_no_rows_no_lines() -> None:
    assert render([Column("who")], []) == []
