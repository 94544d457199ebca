"""CSV import and export routes (the format: docs/csv-format.md).

Importing needs ``posts.write``; exporting ``posts.read``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from app.auth.deps import Authorize, Member
from app.auth.policy import Action
from app.deps import DatabaseDep, SessionDep
from app.errors import Invalid
from app.imports import service
from app.imports.schemas import ImportNote, ImportResult

router = APIRouter(prefix="/workspaces/{workspace_id}", tags=["imports"])

Reader = Annotated[Member, Depends(Authorize(Action.posts_read))]
Writer = Annotated[Member, Depends(Authorize(Action.posts_write))]

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}
_NOT_CSV = Invalid(
    "Send the CSV file as the request body (Content-Type: text/csv) or as a multipart "
    "form field named file.",
    errors=[{"field": "file", "network": None, "message": "no CSV file in the request"}],
)


async def _read_limited(chunks) -> bytes:  # type: ignore[no-untyped-def]
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > service.MAX_BYTES:
            raise service.too_large()
    return bytes(data)


async def _upload(request: Request) -> bytes:
    """The CSV bytes of the request, refused with 413 past the size limit."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > service.MAX_BYTES + 64 * 1024:
        raise service.too_large()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise _NOT_CSV
            if upload.size is not None and upload.size > service.MAX_BYTES:
                raise service.too_large()

            async def chunks():  # type: ignore[no-untyped-def]
                while block := await upload.read(64 * 1024):
                    yield block

            return await _read_limited(chunks())
        finally:
            await form.close()
    if content_type in ("application/json", "application/x-www-form-urlencoded"):
        raise _NOT_CSV
    return await _read_limited(request.stream())


@router.post(
    "/imports",
    response_model=ImportResult,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_BODY,
    responses={
        200: {"description": "Dry run: what would be created.", "model": ImportResult},
        413: {"description": "The file is larger than 5 MB."},
        422: {"description": "Every problem of the file, each with its row and column."},
    },
)
async def import_csv(
    request: Request,
    member: Writer,
    db: SessionDep,
    database: DatabaseDep,
    response: Response,
    dry_run: Annotated[
        bool, Query(description="Check every row and say what would be created; write nothing.")
    ] = False,
) -> ImportResult:
    """Import posts from a CSV file: every row is checked first, and either every post
    is created (in one short write transaction) or none is (422 listing every problem
    with its row and column)."""
    # Release the request's write transaction (on SQLite, the write lock) before a
    # possibly slow upload and the checking; the import writes in its own short one.
    await db.commit()
    data = await _upload(request)
    outcome = await service.run_import(
        database,
        member.workspace.id,
        data,
        dry_run=dry_run,
        actor=member.user,
        request=request,
    )
    if dry_run:
        response.status_code = status.HTTP_200_OK
    return ImportResult(
        dry_run=outcome.dry_run,
        rows=outcome.rows,
        posts=outcome.posts,
        variants=outcome.variants,
        labels=outcome.labels,
        warnings=[
            ImportNote(row=w.row, column=w.column, network=w.network, message=w.message)
            for w in outcome.warnings[: service.MAX_REPORTED]
        ],
        check_ms=round(outcome.check_seconds * 1000),
        write_ms=None if outcome.write_seconds is None else round(outcome.write_seconds * 1000),
    )


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The posts as CSV."}},
)
async def export_csv(
    member: Reader,
    database: DatabaseDep,
    start: Annotated[
        datetime | None,
        Query(alias="from", description="Posts due at or after this instant (ISO)."),
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="Posts due before this instant (ISO).")
    ] = None,
) -> StreamingResponse:
    """The workspace's posts in the import format (undated ideas too when neither
    ``from`` nor ``to`` is given): importing it into a workspace with the same channel
    names, labels and plans gives the same calendar."""
    filename = f"almanac-{member.workspace.slug}.csv"
    return StreamingResponse(
        service.export_lines(database, member.workspace.id, start=start, end=end),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
