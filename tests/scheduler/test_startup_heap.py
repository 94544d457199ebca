"""The scheduler process keeps its start-up objects out of the garbage collector's
full collections (``scheduler.main.freeze_startup_heap``)."""

from __future__ import annotations

import json
import subprocess
import sys

FREEZE_AND_COUNT = """
import gc, json
from scheduler.main import freeze_startup_heap
tracked = len(gc.get_objects())
freeze_startup_heap()
print(json.dumps({"tracked": tracked, "frozen": gc.get_freeze_count(),
                  "left": len(gc.get_objects())}))
"""


def test_the_objects_alive_after_start_up_are_no_longer_walked_by_collections() -> None:
    # A process of its own: freezing this test process's objects would keep them for
    # the rest of the run.
    done = subprocess.run(
        [sys.executable, "-c", FREEZE_AND_COUNT], capture_output=True, text=True, check=True
    )
    counts = json.loads(done.stdout)
    assert counts["tracked"] > 50_000  # the modules, classes and tables of the app
    assert counts["frozen"] >= counts["tracked"] * 0.9
    assert counts["left"] < 1_000


def test_almanac_scheduler_freezes_before_it_runs() -> None:
    from app import cli

    source = cli.scheduler_command.__code__.co_names
    assert "freeze_startup_heap" in source
