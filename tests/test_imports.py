"""CSV import and export over the API, on both databases: a valid file, dry runs,
every problem with its row and column, all or nothing, formula-injection-safe cells,
the round trip export → import → export, the size limit and who may do what."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.db import Database, session_scope
from app.imports import csv_format
from app.imports.csv_format import escape_cell, unescape_cell
from app.models import (
    AuditEvent,
    Delivery,
    DeliveryStatus,
    Post,
    PostStatus,
    Revision,
    Role,
    Variant,
    Workspace,
    post_label,
)
from app.networks.base import Network
from tests.factories import make_channel, make_label, make_plan
from tests.test_channels_api import Team, make_team


def imports_url(team: Team) -> str:
    return f"/api/v1/workspaces/{team.workspace_id}/imports"


def export_url(team: Team) -> str:
    return f"/api/v1/workspaces/{team.workspace_id}/export.csv"


def posts_url(team: Team, *rest: str) -> str:
    return "/".join([f"/api/v1/workspaces/{team.workspace_id}/posts", *rest])


def make_csv(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


async def post_csv(
    client: httpx.AsyncClient,
    team: Team,
    data: bytes,
    *,
    dry_run: bool = False,
    role: Role = Role.owner,
) -> httpx.Response:
    return await client.post(
        imports_url(team),
        params={"dry_run": str(dry_run).lower()},
        content=data,
        headers={**team.headers[role], "content-type": "text/csv"},
    )


async def setup_workspace(database: Database, team: Team, zone: str = "Europe/Paris") -> None:
    """The same channel names, labels and plan in every workspace of these tests."""
    async with session_scope(database.write_session) as session:
        workspace = await session.get(Workspace, team.workspace_id)
        assert workspace is not None
        workspace.timezone = zone
        for network, name in [
            (Network.x, "X main"),
            (Network.x, "X support"),
            (Network.mastodon, "Mastodon"),
            (Network.bluesky, "Bluesky"),
            (Network.sandbox, "Sandbox"),
        ]:
            await make_channel(session, workspace_id=team.workspace_id, network=network, name=name)
        for name in ("Launch", "Tips"):
            await make_label(session, workspace_id=team.workspace_id, name=name)
        await make_plan(session, workspace_id=team.workspace_id)  # 2026-12


async def count(database: Database, table: Any, workspace_id: uuid.UUID | None = None) -> int:
    async with database.read_session() as session:
        query = select(func.count()).select_from(table)
        if workspace_id is not None and table is Post:
            query = query.where(Post.workspace_id == workspace_id)
        return await session.scalar(query) or 0


@pytest.fixture
async def team(database: Database) -> Team:
    team = await make_team(database, (Role.owner, Role.editor, Role.viewer))
    await setup_workspace(database, team)
    return team


VALID = [
    {
        "date": "2026-12-03",
        "time": "09:30",
        "zone": "",
        "channels": "X main|Mastodon|Sandbox",
        "title": "Launch day",
        "text": "We launch on Thursday! https://example.org/launch",
        "text_x": "Launch Thursday 🚀",
        "text_mastodon": "",
        "labels": "Launch|tips",
        "plan": "2026-12",
        "status": "",
        "link": "https://example.org",
    },
    {
        "date": "2026-12-04",
        "time": "18:00",
        "zone": "America/New_York",
        "channels": "Bluesky",
        "title": "Evening tip",
        "text": "A tip for the evening.",
        "text_x": "",
        "text_mastodon": "",
        "labels": "",
        "plan": "",
        "status": "draft",
        "link": "",
    },
    {
        "date": "",
        "time": "",
        "zone": "",
        "channels": "",
        "title": "Someday: a series on accessibility",
        "text": "",
        "text_x": "",
        "text_mastodon": "",
        "labels": "Tips",
        "plan": "2026-12",
        "status": "idea",
        "link": "",
    },
]


async def test_valid_file_imports_posts_variants_labels_plan(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    response = await post_csv(client, team, make_csv(VALID))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["dry_run"] is False
    assert (body["rows"], body["posts"], body["variants"], body["labels"]) == (3, 3, 4, 3)
    assert body["write_ms"] is not None and body["write_ms"] >= 0

    listed = (await client.get(posts_url(team), headers=team.owner)).json()
    assert listed["total"] == 3
    by_title = {item["title"]: item for item in listed["items"]}
    launch = (
        await client.get(posts_url(team, by_title["Launch day"]["id"]), headers=team.owner)
    ).json()
    assert launch["local_at"] == "2026-12-03T09:30:00"
    assert launch["timezone"] == "Europe/Paris"  # the workspace's zone
    assert launch["due_at"].startswith("2026-12-03T08:30:00")
    assert launch["status"] == "draft"
    assert launch["link"] == "https://example.org"
    assert launch["plan_id"] is not None
    assert len(launch["labels"]) == 2
    texts = {v["network"]: (v["text"], v["effective_text"]) for v in launch["variants"]}
    assert texts["x"] == ("Launch Thursday 🚀", "Launch Thursday 🚀")
    assert texts["mastodon"] == (None, VALID[0]["text"])  # empty cell: inherits
    assert texts["sandbox"] == (None, VALID[0]["text"])
    evening = by_title["Evening tip"]
    assert evening["timezone"] == "America/New_York"
    assert evening["due_at"].startswith("2026-12-04T23:00:00")
    idea = by_title["Someday: a series on accessibility"]
    assert idea["status"] == "idea" and idea["local_at"] is None

    async with database.read_session() as session:
        revisions = list(await session.scalars(select(Revision.action)))
        event = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "import.completed"))
        ).one()
    assert revisions == ["imported"] * 3
    async with database.read_session() as session:
        deliveries = list(await session.scalars(select(Delivery)))
        dated_copies = list(
            await session.scalars(
                select(Variant.id).join(Post).where(Post.status != PostStatus.idea)
            )
        )
    # One pending delivery per copy of the dated posts (the idea has none).
    assert sorted(d.variant_id for d in deliveries) == sorted(dated_copies)
    assert {d.status for d in deliveries} == {DeliveryStatus.pending}
    assert all(d.next_attempt_at == d.due_at for d in deliveries)
    assert event.workspace_id == team.workspace_id
    assert event.data["posts"] == 3 and event.data["variants"] == 4

    # An imported post is an ordinary post: it can be edited with its version.
    patched = await client.patch(
        posts_url(team, launch["id"]),
        json={"title": "Launch day!"},
        headers={**team.owner, "If-Match": 'W/"1"'},
    )
    assert patched.status_code == 200, patched.text


async def test_dry_run_writes_nothing(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    response = await post_csv(client, team, make_csv(VALID), dry_run=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True
    assert (body["posts"], body["variants"], body["write_ms"]) == (3, 4, None)
    assert await count(database, Post) == 0
    assert await count(database, Variant) == 0
    assert await count(database, AuditEvent) == 0


async def test_multipart_upload(client: httpx.AsyncClient, team: Team) -> None:
    response = await client.post(
        imports_url(team),
        files={"file": ("plan.csv", make_csv(VALID[:1]), "text/csv")},
        headers=team.owner,
    )
    assert response.status_code == 201, response.text
    assert response.json()["posts"] == 1


def _row(**values: str) -> dict[str, str]:
    base = {
        "date": "2026-12-10",
        "time": "10:00",
        "zone": "",
        "channels": "Sandbox",
        "title": "Fine",
        "text": "Fine copy.",
        "text_x": "",
        "labels": "",
    }
    return {**base, **values}


async def test_every_problem_with_row_and_column_and_nothing_written(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    rows = [
        _row(),  # row 2: fine
        _row(date="2026-13-01"),  # row 3
        _row(date="2026-03-29", time="02:30"),  # row 4: DST gap in Paris
        _row(channels="Sandbox|Nowhere"),  # row 5
        _row(channels="X main", text_x="漢" * 141),  # row 6: CJK weighs 2: 282 > 280
        _row(labels="Launch|Unknown label"),  # row 7
        _row(zone="Mars/Olympus_Mons"),  # row 8
        _row(),  # row 9: fine
    ]
    for dry_run in (True, False):
        response = await post_csv(client, team, make_csv(rows), dry_run=dry_run)
        assert response.status_code == 422, response.text
        body = response.json()
        assert set(body) == {"detail", "errors"}
        assert "nothing was imported" in body["detail"]
        found = {(e["row"], e["column"]) for e in body["errors"]}
        assert found == {
            (3, "date"),
            (4, "time"),
            (5, "channels"),
            (6, "text_x"),
            (7, "labels"),
            (8, "zone"),
        }, body["errors"]
        messages = {(e["row"], e["column"]): e for e in body["errors"]}
        assert "02:00 to 03:00" in messages[(4, "time")]["message"]
        assert "'Nowhere'" in messages[(5, "channels")]["message"]
        assert messages[(6, "text_x")]["network"] == "x"
        assert "280" in messages[(6, "text_x")]["message"]
        assert "282" in messages[(6, "text_x")]["message"]
        assert "'Unknown label'" in messages[(7, "labels")]["message"]
        assert all(e["field"] == e["column"] for e in body["errors"])
    assert await count(database, Post) == 0
    assert await count(database, AuditEvent) == 0


async def test_more_refusals(client: httpx.AsyncClient, team: Team, database: Database) -> None:
    rows = [
        _row(date="2027-01-05", plan="2026-12"),  # row 2: outside the plan
        _row(plan="2027-Q1"),  # row 3: no such plan
        _row(date="2026-10-25", time="02:30"),  # row 4: ambiguous without offset
        _row(date="2026-10-25", time="02:30+01:00", title="Second 02:30"),  # row 5: fine
        _row(date="", time=""),  # row 6: a draft needs a date
        _row(status="approved"),  # row 7
        _row(text_x="copy for X"),  # row 8: no X channel in the row
        _row(title=""),  # row 9
        _row(time="25:00"),  # row 10
    ]
    response = await post_csv(client, team, make_csv(rows))
    assert response.status_code == 422, response.text
    found = {(e["row"], e["column"]) for e in response.json()["errors"]}
    assert found == {
        (2, "date"),
        (3, "plan"),
        (4, "time"),
        (6, "date"),
        (7, "status"),
        (8, "text_x"),
        (9, "title"),
        (10, "time"),
    }
    ambiguous = next(e for e in response.json()["errors"] if e["row"] == 4)
    assert "02:30+02:00" in ambiguous["message"] and "02:30+01:00" in ambiguous["message"]

    # Header problems: unknown columns (a typo'd network) are refused, not ignored.
    response = await post_csv(client, team, b"title,text_twitter,colour\nA,b,c\n")
    assert response.status_code == 422
    assert {(e["row"], e["column"]) for e in response.json()["errors"]} == {
        (1, "text_twitter"),
        (1, "colour"),
    }
    response = await post_csv(client, team, "title\nA\n".encode("utf-16"))
    assert response.status_code == 422
    assert "UTF-8" in response.json()["errors"][0]["message"]
    assert await count(database, Post) == 0


async def test_ambiguous_time_with_offset_is_the_second_occurrence(
    client: httpx.AsyncClient, team: Team
) -> None:
    data = make_csv([_row(date="2026-10-25", time="02:30+01:00")])
    assert (await post_csv(client, team, data)).status_code == 201
    item = (await client.get(posts_url(team), headers=team.owner)).json()["items"][0]
    assert item["due_at"].startswith("2026-10-25T01:30:00")  # 02:30 CET = 01:30 UTC


def test_formula_cells_are_escaped_and_unescaped() -> None:
    for value in ["=1+1", "+33 6", "-5 tips", "@everyone", "\tx", "'=x", "''@y"]:
        escaped = escape_cell(value)
        assert escaped == "'" + value
        assert unescape_cell(escaped) == value
    for value in ["plain", "'quoted'", "a=b", "", "'"]:
        assert escape_cell(value) == value
        assert unescape_cell(value) == value


async def test_export_is_injection_safe_and_reads_back(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    evil = [
        _row(title='=HYPERLINK("https://evil.example","click")', text="-5 ways to grow"),
        _row(title="@channel news", text="+1 for this"),
    ]
    assert (await post_csv(client, team, make_csv(evil))).status_code == 201
    exported = await client.get(export_url(team), headers=team.owner)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = csv.reader(io.StringIO(exported.text.lstrip("\ufeff")))
    cells = [cell for row in rows for cell in row]
    assert '\'=HYPERLINK("https://evil.example","click")' in cells
    assert "'-5 ways to grow" in cells
    assert "'@channel news" in cells and "'+1 for this" in cells
    assert not any(cell[:1] in ("=", "+", "-", "@") for cell in cells)

    other = await make_team(database, (Role.owner,))
    await setup_workspace(database, other)
    response = await post_csv(client, other, exported.content)
    assert response.status_code == 201, response.text
    titles = {
        item["title"]
        for item in (await client.get(posts_url(other), headers=other.owner)).json()["items"]
    }
    assert titles == {evil[0]["title"], evil[1]["title"]}


async def _put_variant(
    client: httpx.AsyncClient, team: Team, post: dict[str, Any], channel_id: str, text: str
) -> dict[str, Any]:
    response = await client.put(
        posts_url(team, post["id"], "variants", channel_id),
        json={"text": text},
        headers={**team.owner, "If-Match": f'W/"{post["version"]}"'},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _calendar(client: httpx.AsyncClient, team: Team) -> list[tuple[Any, ...]]:
    """What a calendar shows, with names instead of ids (ids differ between workspaces)."""
    channels = {
        c["id"]: c["name"]
        for c in (
            await client.get(f"/api/v1/workspaces/{team.workspace_id}/channels", headers=team.owner)
        ).json()
    }
    labels = {
        label["id"]: label["name"]
        for label in (
            await client.get(f"/api/v1/workspaces/{team.workspace_id}/labels", headers=team.owner)
        ).json()
    }
    items = (await client.get(posts_url(team), headers=team.owner)).json()["items"]
    seen = []
    for item in items:
        post = (await client.get(posts_url(team, item["id"]), headers=team.owner)).json()
        seen.append(
            (
                post["title"],
                post["body"],
                post["local_at"],
                post["timezone"],
                post["due_at"],
                post["status"],
                post["link"],
                post["plan_id"] is not None,
                sorted(labels[label] for label in post["labels"]),
                sorted(
                    (channels[v["channel_id"]], v["network"], v["text"]) for v in post["variants"]
                ),
            )
        )
    return sorted(seen, key=repr)


async def test_round_trip_gives_the_same_calendar(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    channels = {
        c["name"]: c["id"]
        for c in (
            await client.get(f"/api/v1/workspaces/{team.workspace_id}/channels", headers=team.owner)
        ).json()
    }
    labels = {
        label["name"]: label["id"]
        for label in (
            await client.get(f"/api/v1/workspaces/{team.workspace_id}/labels", headers=team.owner)
        ).json()
    }
    plan_id = (
        await client.get(f"/api/v1/workspaces/{team.workspace_id}/plans", headers=team.owner)
    ).json()
    plan_id = (plan_id["items"] if isinstance(plan_id, dict) else plan_id)[0]["id"]

    async def create(**body: Any) -> dict[str, Any]:
        response = await client.post(posts_url(team), json=body, headers=team.owner)
        assert response.status_code == 201, response.text
        return response.json()

    launch = await create(
        title="Launch",
        body="We launch on Thursday, with a link: https://example.org/launch",
        local_at="2026-12-03T09:30:00",
        labels=[labels["Launch"], labels["Tips"]],
        plan_id=plan_id,
        link="https://example.org",
        channels=[channels[n] for n in ("X main", "X support", "Mastodon", "Sandbox")],
    )
    # The two X channels carry different copies: the export needs text@<channel>.
    launch = await _put_variant(client, team, launch, channels["X main"], "Launch! 🚀 #news")
    launch = await _put_variant(client, team, launch, channels["X support"], "Questions? Ask us")
    launch = await _put_variant(client, team, launch, channels["Mastodon"], "=Launch for the fedi")
    await create(
        title="Late night, twice",
        body="- a list item first",
        local_at="2026-10-25T02:30:00+01:00",  # the second 02:30 in Paris
        timezone="Europe/Paris",
        channels=[channels["Bluesky"]],
    )
    await create(
        title="Seconds and a zone",
        body="Tokyo copy",
        local_at="2026-12-05T07:15:30",
        timezone="Asia/Tokyo",
        channels=[channels["X main"], channels["X support"]],
    )
    await create(title="Undated idea", body="", status="idea", labels=[labels["Tips"]])

    first = await client.get(export_url(team), headers=team.owner)
    assert first.status_code == 200
    header = next(csv.reader(io.StringIO(first.text.lstrip("\ufeff"))))
    assert "text@X main" in header and "text@X support" in header and "text_x" in header

    other = await make_team(database, (Role.owner,))
    await setup_workspace(database, other, zone="UTC")  # another default zone
    imported = await post_csv(client, other, first.content)
    assert imported.status_code == 201, imported.text
    assert imported.json()["posts"] == 4

    assert await _calendar(client, other) == await _calendar(client, team)
    second = await client.get(export_url(other), headers=other.owner)
    assert second.text == first.text


async def test_export_range(client: httpx.AsyncClient, team: Team) -> None:
    rows = [_row(date="2026-12-01", title="First"), _row(date="2026-12-20", title="Second")]
    assert (await post_csv(client, team, make_csv(rows))).status_code == 201
    response = await client.get(
        export_url(team),
        params={"from": "2026-12-10T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
        headers=team.owner,
    )
    lines = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert [line["title"] for line in lines] == ["Second"]


async def test_size_limit(client: httpx.AsyncClient, team: Team, database: Database) -> None:
    big = b"title,text\n" + b"A,b\n" * (5 * 1024 * 1024 // 4 + 10)
    response = await post_csv(client, team, big)
    assert response.status_code == 413
    assert set(response.json()) == {"detail", "errors"}
    assert "5 MB" in response.json()["detail"]
    response = await client.post(
        imports_url(team), files={"file": ("big.csv", big, "text/csv")}, headers=team.owner
    )
    assert response.status_code == 413
    assert await count(database, Post) == 0


async def test_viewer_may_export_but_not_import(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    response = await post_csv(client, team, make_csv(VALID), role=Role.viewer)
    assert response.status_code == 403
    assert set(response.json()) == {"detail", "errors"}
    assert (await post_csv(client, team, make_csv(VALID), role=Role.editor)).status_code == 201
    exported = await client.get(export_url(team), headers=team.headers[Role.viewer])
    assert exported.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))) == 3


async def test_json_body_is_refused_clearly(client: httpx.AsyncClient, team: Team) -> None:
    response = await client.post(imports_url(team), json={}, headers=team.owner)
    assert response.status_code == 422
    assert "text/csv" in response.json()["detail"]


def test_read_sheet_semicolons_bom_and_quotes() -> None:
    data = '\ufeffTitle;Text;Channels\nA;\'=sum;X|Y\n\n;;\nB;"multi\nline";\n'.encode()
    sheet = csv_format.read_sheet(data)
    assert not sheet.problems
    assert sheet.columns == ["title", "text", "channels"]
    assert [(n, row["title"], row["text"]) for n, row in sheet.rows] == [
        (2, "A", "=sum"),
        (5, "B", "multi\nline"),
    ]


async def test_labels_are_linked_once(
    client: httpx.AsyncClient, team: Team, database: Database
) -> None:
    data = make_csv([_row(labels="Launch|launch|LAUNCH")])
    response = await post_csv(client, team, data)
    assert response.status_code == 201, response.text
    assert await count(database, post_label) == 1
