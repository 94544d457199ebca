"""The post workflow as one table: states, transitions and who may take each.

    idea → draft → in_review ⇄ changes_requested → approved
    withdraw: in_review / changes_requested → draft
    schedule: draft → approved (only when the workspace does not require approval)
    unschedule: approved (or an approved post back in review) → draft

Every refusal is a sentence a person understands; the services raise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.auth.policy import Action
from app.models import PostStatus


class Step(StrEnum):
    submit = "submit"
    approve = "approve"
    request_changes = "request-changes"
    withdraw = "withdraw"
    schedule = "schedule"
    unschedule = "unschedule"


class ApprovalMode(StrEnum):
    """Whether a step belongs to workspaces that require approval, or not, or both."""

    required = "required"
    off = "off"
    any = "any"


@dataclass(frozen=True, slots=True)
class Transition:
    step: Step
    sources: frozenset[PostStatus]
    target: PostStatus
    action: Action  # the policy entry that says which roles may take the step
    mode: ApprovalMode
    verb: str  # "submit", "approve"... for messages


S = PostStatus
TRANSITIONS: dict[Step, Transition] = {
    t.step: t
    for t in (
        Transition(
            Step.submit,
            frozenset({S.draft, S.changes_requested}),
            S.in_review,
            Action.posts_write,
            ApprovalMode.required,
            "submit for review",
        ),
        Transition(
            Step.approve,
            frozenset({S.in_review}),
            S.approved,
            Action.posts_approve,
            ApprovalMode.required,
            "approve",
        ),
        Transition(
            Step.request_changes,
            frozenset({S.in_review}),
            S.changes_requested,
            Action.posts_approve,
            ApprovalMode.required,
            "request changes to",
        ),
        Transition(
            Step.withdraw,
            frozenset({S.in_review, S.changes_requested}),
            S.draft,
            Action.posts_write,
            ApprovalMode.any,
            "withdraw",
        ),
        Transition(
            Step.schedule,
            frozenset({S.draft, S.in_review, S.changes_requested}),
            S.approved,
            Action.posts_write,
            ApprovalMode.off,
            "schedule",
        ),
        Transition(
            Step.unschedule,
            frozenset({S.approved, S.in_review, S.changes_requested}),
            S.draft,
            Action.posts_write,
            ApprovalMode.any,
            "unschedule",
        ),
    )
}

STATUS_WORDS: dict[PostStatus, str] = {
    S.idea: "an idea",
    S.draft: "a draft",
    S.in_review: "in review",
    S.changes_requested: "waiting for the changes a reviewer asked for",
    S.approved: "approved and scheduled",
}


def refusal(step: Step, status: PostStatus, *, approval_required: bool) -> str | None:
    """Why ``step`` cannot be taken from ``status`` under the workspace's policy, or None."""
    transition = TRANSITIONS[step]
    if transition.mode is ApprovalMode.required and not approval_required:
        return (
            f"This workspace does not require approval, so there is nothing to "
            f"{transition.verb}: schedule the post instead."
        )
    if transition.mode is ApprovalMode.off and approval_required:
        return (
            "This workspace requires approval: submit the post for review; it is "
            "scheduled once approved."
        )
    if status not in transition.sources:
        hint = _HINTS.get(status, "")
        return f"You cannot {transition.verb} this post: it is {STATUS_WORDS[status]}.{hint}"
    return None


_HINTS: dict[PostStatus, str] = {
    S.idea: " Give it a date and make it a draft first.",
    S.approved: " To change course, unschedule it (back to draft).",
    S.draft: "",
}


def allowed_steps(status: PostStatus, *, approval_required: bool) -> list[Step]:
    """The steps a post in ``status`` offers (the pages show these as buttons)."""
    return [
        step
        for step in TRANSITIONS
        if refusal(step, status, approval_required=approval_required) is None
    ]
