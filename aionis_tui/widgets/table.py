"""A DataTable for live data: cheap to grow, and redrawn when its columns widen.

Textual's DataTable measures each new cell through a Rich console (a terminal-size syscall per
cell), and keeps rows it already rendered in caches keyed without the column widths: a row drawn
between `add_row` and the next idle stays truncated. Live tables add hundreds of rows a second,
so they hit both. Our cells are one-line `Text`, whose width is `cell_len`; other cells still go
through Textual's measurement.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets._data_table import CellKey, ColumnKey, RowKey


class LiveTable(DataTable[Text]):
    def _widths(self) -> list[int]:
        return [c.content_width for c in self.columns.values()]

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        before = self._widths()
        rest: list[RowKey] = []
        columns = list(self.columns.values())
        for row_key in new_rows:
            row = self.rows.get(row_key)
            if row is None or self._row_locations.get(row_key) is None:
                continue
            if row.label is not None or row.auto_height:
                rest.append(row_key)
                continue
            cells = self._data.get(row_key, {})
            widths = []
            for column in columns:
                value = cells.get(column.key)
                if not isinstance(value, Text) or "\n" in value.plain:
                    rest.append(row_key)
                    break
                widths.append(value.cell_len)
            else:
                for column, width in zip(columns, widths, strict=True):
                    column.content_width = max(column.content_width, width)
        super()._update_dimensions(rest)
        if self._widths() != before:
            self._update_count += 1
            self.refresh()

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        before = self._widths()
        super()._update_column_widths(updated_cells)
        if self._widths() != before:
            self._update_count += 1
            self.refresh()

    def set_cell(self, row_key: str, column_key: str, value: Text) -> None:
        """Update a cell, widening its column if needed but never re-measuring the whole column.

        `update_cell(update_width=True)` rescans every cell of the column when the new value is
        narrower than the widest, which is quadratic for a run with thousands of steps.
        """
        self.update_cell(row_key, column_key, value)
        column = self.columns.get(ColumnKey(column_key))
        if column is not None and column.auto_width and value.cell_len > column.content_width:
            column.content_width = value.cell_len
            self._update_count += 1
            self._require_update_dimensions = True
            self.refresh()
