"""The publishing queue's one eligibility rule: which deliveries a claim may take.

A delivery is claimable when it is ``pending`` or ``retrying`` and due, not past its
lateness limit, its variant is approved (``approved_hash = content_hash``), its post
submitted (in review, changes requested or approved: not a draft or an idea), its
workspace and channel not paused, and its channel connected and not waiting for a
rate limit to reset.

Past the lateness limit (due time and next attempt both older than now minus the
workspace's limit: the rule of :mod:`app.approvals.lateness`) nothing is claimed,
whether or not :func:`~app.approvals.lateness.mark_missed` has closed the delivery
yet: the rule holds to the instant, and marking (with its notifications) need not
run inside every claim. The date arithmetic differs per backend, so the condition is
:func:`claimable_where` of the dialect.

The scheduler's claim (``scheduler.dispatch``) adds its per-channel concurrency
limit to this rule; the web process's queue depth (``app.observability``) counts
the rows it matches, so the gauge shows work the scheduler will actually take.
Plain SQL over the aliases ``d`` (delivery), ``v`` (variant), ``p`` (post), ``c``
(channel) and ``w`` (workspace), with ``:now`` bound: the claim is one hand-written
``UPDATE ... RETURNING`` statement.

Two conditions are written so that PostgreSQL cannot estimate them, on purpose: it
must walk ``ix_delivery_claimable`` in due order and stop at the claim's ``LIMIT``,
the right plan whatever the statistics say. ``coalesce(v.approved_hash =
v.content_hash, false)`` (the same rows as ``approved_hash IS NOT NULL AND ... =
...``): an equality of two columns is guessed to keep 0.5 % of the rows. ``<=
(SELECT :now)``: with ``<= :now`` the statistics of the last ANALYZE, taken while the
posts were still in the future, said no row was due, so with a burst of 10,000 due
rows the plan hashed and sorted all of them on every claim (50-300 ms a claim, and
its candidates bunched on a few channels); the sub-select's value is unknown when
planning, so the estimate is a third of the rows and the plan the index walk
(~10 ms). bench/README.md, publish_lag.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.approvals.lateness import SUBMITTED
from app.models import ChannelStatus
from app.models.base import UTCDateTime
from app.models.delivery import CLAIMABLE_STATUSES


def _listed(values: tuple[object, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


CLAIMABLE_JOINS = """
    FROM delivery d
    JOIN variant v ON v.id = d.variant_id
    JOIN post p ON p.id = d.post_id
    JOIN channel c ON c.id = d.channel_id
    JOIN workspace w ON w.id = d.workspace_id
"""
_CLAIMABLE_WHERE = f"""
    d.status IN ({_listed(CLAIMABLE_STATUSES)})
      AND d.next_attempt_at <= (SELECT :now)
      AND {{on_time}}
      AND coalesce(v.approved_hash = v.content_hash, false)
      AND p.status IN ({_listed(tuple(status.value for status in SUBMITTED))})
      AND w.paused = false AND c.paused = false
      AND c.status = '{ChannelStatus.connected.value}'
      AND (c.rate_limited_until IS NULL OR c.rate_limited_until <= :now)
"""
# Not past the lateness limit: the later of due time and next attempt is at least
# now minus the workspace's limit. SQLite stores times as ISO text (julianday reads it).
_ON_TIME = {
    "postgresql": "greatest(d.next_attempt_at, d.due_at) "
    ">= (SELECT :now) - w.lateness_limit_minutes * interval '1 minute'",
    "sqlite": "(julianday((SELECT :now)) - julianday(max(d.next_attempt_at, d.due_at))) * 1440.0 "
    "<= w.lateness_limit_minutes",
}


def claimable_where(dialect: str) -> str:
    """The claimable rule as SQL on the aliases above, for ``dialect``'s name."""
    return _CLAIMABLE_WHERE.format(on_time=_ON_TIME[dialect])


_DEPTH = {
    dialect: text(
        "SELECT count(*)" + CLAIMABLE_JOINS + "WHERE" + claimable_where(dialect)
    ).bindparams(bindparam("now", type_=UTCDateTime()))
    for dialect in _ON_TIME
}


async def claimable_count(session: AsyncSession, *, now: datetime) -> int:
    """How many deliveries a claim could take now (before per-channel limits)."""
    dialect = session.get_bind().dialect.name
    return int(await session.scalar(_DEPTH[dialect], {"now": now}) or 0)
