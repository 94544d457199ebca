"""A 10,000-row CSV import on SQLite while posts fall due: the scheduler process (its
own process, as in production) still publishes each within a few seconds of its time,
although the import holds SQLite's single write lock for a while."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.db import Database
from app.settings import Settings
from bench.import_csv import fill, make_file
from tests.scheduler.launcher import (
    ON_SQLITE,
    PlatformServer,
    SchedulerProcess,
    insert_due,
    wait_settled,
    webhook_workspace,
)

ROWS = 10_000
DUE = 40  # one every quarter of a second, from one second after the import starts
MAX_LAG = 5.0  # seconds


@pytest.mark.slow
@ON_SQLITE
async def test_csv_import_does_not_hold_back_due_posts(
    database: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    tmp_path: Path,
    record_property: pytest.RecordProperty,
) -> None:
    platform = PlatformServer(latency=0.05)
    scheduler: SchedulerProcess | None = None
    try:
        workspace_id, channels = await webhook_workspace(database, platform, 4)
        import_workspace, token = await fill(database)
        data = make_file(ROWS)
        scheduler = SchedulerProcess(settings, tmp_path / "scheduler.log")
        await scheduler.wait_ready(database)
        start = time.time()
        written = await insert_due(
            database,
            workspace_id,
            channels,
            [datetime.fromtimestamp(start + 1.0 + i / 4, UTC) for i in range(DUE)],
        )
        import_started = time.time()
        response = await client.post(
            f"/api/v1/workspaces/{import_workspace}/imports",
            content=data,
            headers={"authorization": f"Bearer {token}", "content-type": "text/csv"},
            timeout=300,
        )
        import_ended = time.time()
        assert response.status_code == 201, response.text[:2000]
        await platform.wait_for_count(DUE, seconds=60)
        final = await wait_settled(database, seconds=30, workspace_id=workspace_id)
        assert scheduler.alive(), scheduler.tail()
    finally:
        if scheduler is not None:
            await scheduler.stop()
        stats = await platform.stats()
        await platform.close()
    assert final == {"published": DUE}
    lags = sorted(stats["arrivals"][d] - due for d, due in written.due.items())
    during = sum(1 for due in written.due.values() if import_started <= due <= import_ended)
    summary = (
        f"{ROWS:,}-row CSV import on SQLite took {import_ended - import_started:.1f} s "
        f"(write transaction {response.json()['write_ms'] / 1000:.1f} s); {during} of {DUE} "
        f"posts fell due during it; publish lag max {lags[-1]:.2f} s, "
        f"median {lags[len(lags) // 2]:.2f} s (bound {MAX_LAG:.0f} s)"
    )
    record_property("summary", summary)
    print(summary)
    assert stats["duplicates"] == []
    assert during >= 3, summary  # the import really overlapped the due times
    assert lags[-1] <= MAX_LAG, summary
