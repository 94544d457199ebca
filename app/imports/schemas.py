"""Import results. Problems are not returned here but as a 422 in the one error shape,
each error carrying ``row`` and ``column`` besides ``field`` (= the column),
``network`` and ``message``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ImportNote(BaseModel):
    """A warning about one cell: accepted, but worth knowing (e.g. no media yet)."""

    row: int = Field(description="The row as a spreadsheet numbers it (the header is row 1).")
    column: str
    network: str | None = None
    message: str


class ImportResult(BaseModel):
    dry_run: bool
    rows: int = Field(description="Rows read (blank rows are skipped).")
    posts: int = Field(description="Posts created (a dry run: that would be created).")
    variants: int = Field(description="Per-channel copies created (or that would be).")
    labels: int = Field(description="Labels put on posts (or that would be).")
    warnings: list[ImportNote]
    check_ms: int = Field(description="Reading and checking every row, outside any write.")
    write_ms: int | None = Field(
        description="How long the one write transaction was held (on SQLite: the write "
        "lock); null for a dry run."
    )
