"""Plan routes: CRUD, the report and duplication. Reading needs ``plans.read``,
writing ``plans.write``. The rules live in ``service.py``."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.auth.deps import Authorize, Member, in_workspace
from app.auth.policy import Action
from app.deps import SessionDep
from app.models import Plan, PlanKind
from app.plans import service
from app.plans.schemas import (
    DuplicateResult,
    PlanCreate,
    PlanDuplicate,
    PlanRead,
    PlanReport,
    PlanUpdate,
)

router = APIRouter(prefix="/workspaces/{workspace_id}/plans", tags=["plans"])

Reader = Annotated[Member, Depends(Authorize(Action.plans_read))]
Writer = Annotated[Member, Depends(Authorize(Action.plans_write))]


async def _readable_plan(plan_id: uuid.UUID, member: Reader, db: SessionDep) -> Plan:
    return await in_workspace(db, Plan, plan_id, member, "plan")


async def _writable_plan(plan_id: uuid.UUID, member: Writer, db: SessionDep) -> Plan:
    return await in_workspace(db, Plan, plan_id, member, "plan")


ReadablePlan = Annotated[Plan, Depends(_readable_plan)]
WritablePlan = Annotated[Plan, Depends(_writable_plan)]


@router.get("", response_model=list[PlanRead])
async def list_plans(
    member: Reader,
    db: SessionDep,
    kind: Annotated[PlanKind | None, Query(description="Only months or only quarters.")] = None,
    from_: Annotated[
        date | None, Query(alias="from", description="Only plans ending on or after this day.")
    ] = None,
    to: Annotated[
        date | None, Query(description="Only plans starting on or before this day.")
    ] = None,
) -> list[PlanRead]:
    """The workspace's plans by start date (a quarter before the months inside it)."""
    return await service.list_plans(db, member.workspace.id, kind=kind, from_=from_, to=to)


@router.post("", response_model=PlanRead, status_code=status.HTTP_201_CREATED)
async def create_plan(
    data: PlanCreate, member: Writer, db: SessionDep, request: Request
) -> PlanRead:
    """A month (period 2026-12) or quarter (2027-Q1) plan. Plans of one kind never
    overlap (409); a month may sit inside a quarter."""
    plan = await service.create_plan(
        db, workspace_id=member.workspace.id, data=data, actor=member.user, request=request
    )
    return service.to_read(plan)


@router.get("/{plan_id}", response_model=PlanRead)
async def read_plan(member: Reader, plan: ReadablePlan, db: SessionDep) -> PlanRead:
    """One plan, with how many posts and ideas it holds."""
    return await service.read_plan(db, plan)


@router.patch("/{plan_id}", response_model=PlanRead)
async def update_plan(
    data: PlanUpdate, member: Writer, plan: WritablePlan, db: SessionDep, request: Request
) -> PlanRead:
    """Change a plan. A new period is refused while posts of the plan lie outside it."""
    plan = await service.update_plan(db, plan, data=data, actor=member.user, request=request)
    return await service.read_plan(db, plan)


@router.delete("/{plan_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_plan(
    member: Writer, plan: WritablePlan, db: SessionDep, request: Request
) -> Response:
    """Delete a plan; its posts stay, without a plan."""
    await service.delete_plan(db, plan, actor=member.user, request=request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{plan_id}/report", response_model=PlanReport)
async def plan_report(member: Reader, plan: ReadablePlan, db: SessionDep) -> PlanReport:
    """Planned against target per ISO week and network, the label mix, and the days
    of the period (in the workspace's zone) with nothing planned."""
    return await service.report(db, plan, member.workspace)


@router.post(
    "/{plan_id}/duplicate", response_model=DuplicateResult, status_code=status.HTTP_201_CREATED
)
async def duplicate_plan(
    data: PlanDuplicate, member: Writer, plan: WritablePlan, db: SessionDep, request: Request
) -> DuplicateResult:
    """Copy the plan into another period of the same kind, with its posts as drafts
    moved by whole weeks (weekdays and local times stay). Posts that would fall
    outside the new period are skipped; both lists are in the answer."""
    return await service.duplicate_plan(db, plan, data=data, actor=member.user, request=request)
