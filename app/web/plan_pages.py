"""The plans of a workspace: the list with a form to start one, and a plan's page
(goals, themes, cadence against targets, content mix, empty days, duplication).

The figures come from the plan report service; writes go from the page's forms to
the JSON API (``workspace.js``), so the rules live only in :mod:`app.plans.service`.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import Authorize, Member, in_workspace
from app.auth.policy import Action
from app.channels import service as channel_service
from app.deps import SessionDep
from app.labels import service as label_service
from app.models import Plan
from app.networks.base import Network
from app.plans import service as plan_service
from app.web.calendar_pages import NETWORK_NAMES
from app.web.workspace_frame import render_workspace

router = APIRouter()

PageReader = Annotated[Member, Depends(Authorize(Action.plans_read, page=True))]


def _next_month(today: date) -> str:
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return f"{year}-{month:02d}"


@router.get("/w/{workspace_id}/plans", response_class=HTMLResponse)
async def plans_page(request: Request, member: PageReader, db: SessionDep) -> Response:
    """The workspace's plans, months and quarters, and a form to start one."""
    plans = await plan_service.list_plans(db, member.workspace.id)
    context = {
        "plans": plans,
        "may_write": member.may(Action.plans_write),
        "suggested_period": _next_month(date.today()),
    }
    return await render_workspace(request, db, member, "plans.html", context)


@router.get("/w/{workspace_id}/plans/{plan_id}", response_class=HTMLResponse)
async def plan_page(
    plan_id: uuid.UUID, request: Request, member: PageReader, db: SessionDep
) -> Response:
    """One plan: goals, themes, cadence against targets, content mix, gaps."""
    row = await in_workspace(db, Plan, plan_id, member, "plan")
    plan = await plan_service.read_plan(db, row)
    report = await plan_service.report(db, row, member.workspace)
    channels = await channel_service.list_channels(db, member.workspace.id)
    networks = sorted({c.network for c in channels} | set(plan.cadence_targets))
    labels = [label for label, _ in await label_service.list_labels(db, member.workspace.id)]
    context = {
        "plan": plan,
        "report": report,
        "networks": networks,
        "all_networks": [n.value for n in Network],
        "network_names": NETWORK_NAMES,
        "labels": labels,
        "themes_text": "\n".join(f"{t.week} {t.theme}" for t in plan.themes),
        "may_write": member.may(Action.plans_write),
    }
    return await render_workspace(request, db, member, "plan.html", context)
