"""Helpers for authorization tests: callers with real credentials, and what a route
requires, read from its dependency tree.

A route's requirement is never written down twice: the matrix test reads it from
the dependencies the route declares (``Authorize(action)``, ``CurrentUser``,
``PageUser``…), then checks that the app really behaves that way.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import deps as auth_deps
from app.auth.deps import Authorize
from app.auth.policy import Action, allowed
from app.auth.sessions import SESSION_COOKIE, sign_session_token, start_session
from app.auth.tokens import hash_secret, new_api_token, new_secret
from app.db import Database
from app.models import ApiToken, Invitation, Role, User, Workspace, utcnow
from tests.factories import make_membership, make_user, make_workspace

# -- callers with real credentials ------------------------------------------------------


async def new_workspace(session: AsyncSession, *members: tuple[User, Role]) -> Workspace:
    """A workspace with these members (flushed)."""
    workspace = await make_workspace(session)
    for user, role in members:
        await make_membership(session, workspace=workspace, user=user, role=role)
    return workspace


async def add_api_token(
    session: AsyncSession, user: User, *, name: str = "test"
) -> tuple[str, ApiToken]:
    """An API token of ``user`` (flushed); returns the raw token and the row."""
    token, prefix = new_api_token()
    row = ApiToken(user_id=user.id, name=name, prefix=prefix, token_hash=hash_secret(token))
    session.add(row)
    await session.flush()
    return token, row


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in browser: the cookie header to send and the session's CSRF token."""

    cookie: str
    csrf_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"cookie": f"{SESSION_COOKIE}={self.cookie}"}


async def sign_in_browser(session: AsyncSession, user: User, secret_key: str) -> BrowserSession:
    """A real session row (``start_session``) and its signed cookie; flushes."""
    token, row = await start_session(session, user, ip="127.0.0.1", user_agent="pytest")
    return BrowserSession(sign_session_token(secret_key, token), row.csrf_token)


async def add_invitation(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    invited_by_id: uuid.UUID | None,
    *,
    email: str | None = None,
    role: Role = Role.viewer,
) -> tuple[str, Invitation]:
    """A pending invitation (flushed); returns the raw link token and the row."""
    token = new_secret()
    row = Invitation(
        workspace_id=workspace_id,
        email=email or f"invited-{uuid.uuid4().hex[:10]}@example.org",
        role=role,
        token_hash=hash_secret(token),
        invited_by_id=invited_by_id,
        expires_at=utcnow() + timedelta(days=7),
    )
    session.add(row)
    await session.flush()
    return token, row


# -- error responses --------------------------------------------------------------------


def error_shape_problem(response: httpx.Response) -> str | None:
    """Why a JSON error body is not the one shape (``detail`` sentence + ``errors``), or None.
    HTML error pages are not checked here."""
    if response.headers.get("content-type", "").startswith("text/html"):
        return None
    try:
        body = response.json()
    except ValueError:
        return f"body is not JSON: {response.text[:120]!r}"
    if not isinstance(body, dict) or set(body) != {"detail", "errors"}:
        return f"body is not {{detail, errors}}: {body!r}"
    if not isinstance(body["detail"], str) or not body["detail"].strip():
        return f"detail is not a sentence: {body['detail']!r}"
    if not isinstance(body["errors"], list):
        return f"errors is not a list: {body['errors']!r}"
    return None


# -- what a route requires ---------------------------------------------------------------

# Dependencies that make a route "signed in": API ones answer 401, page ones redirect.
SIGNED_IN_API: frozenset[Callable[..., Any]] = frozenset(
    {auth_deps.current_principal, auth_deps._current_user}
)
SIGNED_IN_PAGE: frozenset[Callable[..., Any]] = frozenset(
    {auth_deps.page_principal, auth_deps._page_user}
)


class RouteProblem(Exception):
    """A route whose dependencies cannot be right (e.g. mixes page and API sign-in)."""


@dataclass(frozen=True)
class Requirement:
    """What a route asks of its caller. ``actions`` empty: being signed in is enough;
    otherwise the caller must be a member of ``{workspace_id}`` allowed every action."""

    actions: frozenset[Action]
    page: bool

    @property
    def workspace(self) -> bool:
        return bool(self.actions)

    def allows(self, role: Role) -> bool:
        return all(allowed(role, action) for action in self.actions)

    def describe(self) -> str:
        who = ", ".join(sorted(a.value for a in self.actions)) if self.actions else "signed in"
        return f"{who} ({'page' if self.page else 'API'})"


def dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every callable in a dependency tree, depth first (router- and route-level
    ``dependencies=[...]`` included: FastAPI puts them into the tree too)."""
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from dependency_calls(sub)


def requirement_of(dependant: Dependant) -> Requirement | None:
    """The route's requirement, or None when nothing in its tree asks for a caller."""
    actions: set[Action] = set()
    kinds: set[bool] = set()  # True: page, False: API
    for call in dependency_calls(dependant):
        if isinstance(call, Authorize):
            actions.add(call.action)
            kinds.add(call.page)
        elif call in SIGNED_IN_API:
            kinds.add(False)
        elif call in SIGNED_IN_PAGE:
            kinds.add(True)
    if not kinds:
        return None
    if len(kinds) > 1:
        raise RouteProblem(
            "mixes page dependencies (redirect to sign-in) with API ones (401); use one kind"
        )
    return Requirement(frozenset(actions), page=kinds.pop())


_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def path_params(path: str) -> list[str]:
    return _PARAM.findall(path)


def fill_path(path: str, values: dict[str, str]) -> str:
    return _PARAM.sub(lambda match: values[match.group(1)], path)


# -- the matrix: every route, every kind of caller ----------------------------------------

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Refusals that are not about who calls: a route answers them to an allowed caller
# whose (deliberately minimal) request the rules refuse.
NON_AUTH_REFUSALS = frozenset({409, 410, 412, 422, 428})
HTML_ACCEPT = "text/html,application/xhtml+xml"
SIGN_IN_REDIRECT = "/sign-in?next="


@dataclass(frozen=True)
class ResourceScope:
    """Where a factory makes a resource: in ``workspace_id``, belonging to ``user``
    when the resource belongs to a person (an API token)."""

    session: AsyncSession
    workspace_id: uuid.UUID
    user: User


Factory = Callable[[ResourceScope], Awaitable[str]]


@dataclass(frozen=True)
class Resource:
    """How to fill one path parameter. ``scoped``: the resource belongs to a workspace
    (or a person), so naming another's must answer 404; False for a secret link (an
    invitation token), which works for whoever holds it."""

    make: Factory
    scoped: bool = True


@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str
    requirement: Requirement
    # A request the route's validation accepts (from its OpenAPI description), so a
    # probe that must reach the route's own resource lookup is not stopped by a 422.
    valid_json: Any = None
    valid_query: dict[str, Any] = field(default_factory=dict)

    @property
    def resource_params(self) -> list[str]:
        return [name for name in path_params(self.path) if name != "workspace_id"]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class RouteSurvey:
    """The app's routes sorted out: what to probe, what is public, what is wrong."""

    cases: list[RouteCase] = field(default_factory=list)
    public: set[str] = field(default_factory=set)  # public paths that matched a route
    problems: list[str] = field(default_factory=list)


def route_contexts(app: FastAPI) -> Iterator[Any]:
    """Every route of the app, routers included through ``include_router`` flattened
    (FastAPI ≥ 0.16x keeps included routers lazily; older ones copy their routes)."""
    flatten = getattr(fastapi_routing, "iter_route_contexts", None)
    yield from (flatten(app.routes) if flatten is not None else app.routes)


def survey_routes(
    app: FastAPI, public: Mapping[str, str], resources: Mapping[str, Resource]
) -> RouteSurvey:
    survey = RouteSurvey()
    described = app.openapi()
    for route in route_contexts(app):
        path: str = route.path
        dependant = getattr(route, "dependant", None)
        original = getattr(route, "original_route", route)
        if not isinstance(original, APIRoute) or dependant is None:
            if path in public:
                survey.public.add(path)
            else:
                survey.problems.append(
                    f"{path} ({type(original).__name__}) is not a FastAPI route, so no "
                    "dependency can authorize it: make it an APIRoute with Authorize(...) / "
                    "CurrentUser / PageUser, or add it to the public list with a reason"
                )
            continue
        for method in sorted(route.methods or ()):
            where = f"{method} {path}"
            try:
                requirement = requirement_of(dependant)
            except RouteProblem as exc:
                survey.problems.append(f"{where}: {exc}")
                continue
            if requirement is None:
                if path in public:
                    survey.public.add(path)
                else:
                    survey.problems.append(
                        f"{where} asks nothing of its caller: add Authorize(Action...) (a "
                        "workspace route; add the action to app.auth.policy.POLICY), CurrentUser "
                        "or PageUser to it, or add it to the public list with a reason"
                    )
                continue
            params = path_params(path)
            if requirement.workspace != ("workspace_id" in params):
                survey.problems.append(
                    f"{where}: a route under {{workspace_id}} must use Authorize(action), and "
                    "Authorize(action) needs {workspace_id} in the path"
                )
                continue
            api = path.startswith("/api/")
            if api and requirement.page:
                survey.problems.append(
                    f"{where}: an API route answers 401, not a redirect to sign-in; use "
                    "CurrentUser / Authorize(action) without page=True"
                )
                continue
            if not api and not requirement.page and method not in UNSAFE_METHODS:
                survey.problems.append(
                    f"{where}: a page sends anonymous visitors to sign-in; use PageUser / "
                    "PagePrincipal / Authorize(action, page=True)"
                )
                continue
            unknown = [name for name in params if name != "workspace_id" and name not in resources]
            if unknown:
                survey.problems.append(
                    f"{where} has path parameter(s) {', '.join(unknown)} that the authorization "
                    "matrix cannot fill: add a factory making a real one to RESOURCES in "
                    "tests/test_authorization_matrix.py"
                )
                continue
            body, query = valid_request(described, method, path)
            survey.cases.append(RouteCase(method, path, requirement, body, query))
    return survey


def valid_request(described: dict[str, Any], method: str, path: str) -> tuple[Any, dict[str, Any]]:
    """A JSON body and query parameters that the route's validation accepts, built from
    its OpenAPI description (examples and defaults first), or (None, {})."""
    operation = described.get("paths", {}).get(path, {}).get(method.lower())
    if operation is None:
        return None, {}
    components = described.get("components", {}).get("schemas", {})
    query = {
        parameter["name"]: sample_value(parameter.get("schema", {}), components)
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "query" and parameter.get("required")
    }
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return (sample_value(schema, components) if schema else None), query


def sample_value(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A minimal value valid for a JSON schema (the subset Pydantic emits)."""
    if depth > 8:
        return None
    if "$ref" in schema:
        return sample_value(components[schema["$ref"].rsplit("/", 1)[1]], components, depth + 1)
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [option for option in schema.get(key, []) if option.get("type") != "null"]
        if options:
            return sample_value(options[0], components, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {
            name: sample_value(properties.get(name, {}), components, depth + 1)
            for name in schema.get("required", [])
        }
    if kind == "array":
        item = sample_value(schema.get("items", {}), components, depth + 1)
        return [item] * schema.get("minItems", 0)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return max(low, min(1, schema.get("maximum", 1)))
    if kind == "boolean":
        return False
    if kind == "string":
        formats = {
            "email": "someone@example.org",
            "uuid": str(uuid.uuid4()),
            "date-time": utcnow().isoformat(),
            "date": utcnow().date().isoformat(),
            "uri": "https://example.org/",
        }
        if schema.get("format") in formats:
            return formats[schema["format"]]
        return "x" * max(schema.get("minLength", 1), 1)
    return None


Expect = Literal["sign-in", "hidden", "refused", "allowed", "csrf"]
ANONYMOUS = "anonymous"
OUTSIDER = "member of another workspace"
FOREIGN = "owner, with another workspace's"
NO_CSRF = "owner by session cookie, without CSRF token"


@dataclass
class Probe:
    case: RouteCase
    caller: str
    expect: Expect
    role: Role | None = None
    outsider: bool = False
    foreign: bool = False  # resources of another workspace (and another user)
    cookie: bool = False  # authenticate with a session cookie, even on an API route
    send_csrf: bool = True
    # Filled by prepare().
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str] | None = None
    query: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.case} as {self.caller}"


def plan_probes(cases: list[RouteCase], resources: Mapping[str, Resource]) -> list[Probe]:
    probes: list[Probe] = []
    for case in cases:
        requirement = case.requirement
        probes.append(Probe(case, ANONYMOUS, "sign-in"))
        probes.append(
            Probe(case, OUTSIDER, "hidden" if requirement.workspace else "allowed", outsider=True)
        )
        for role in Role:
            expect: Expect = "allowed" if requirement.allows(role) else "refused"
            probes.append(Probe(case, role.value, expect, role=role))
        scoped = [name for name in case.resource_params if resources[name].scoped]
        if scoped and requirement.allows(Role.owner):
            caller = f"{FOREIGN} {', '.join(scoped)}"
            probes.append(Probe(case, caller, "hidden", role=Role.owner, foreign=True))
        if case.method in UNSAFE_METHODS:
            probes.append(
                Probe(case, NO_CSRF, "csrf", role=Role.owner, cookie=True, send_csrf=False)
            )
    return probes


async def prepare(
    session: AsyncSession, probe: Probe, resources: Mapping[str, Resource], secret_key: str
) -> None:
    """A small world of its own for each probe (so a DELETE, a role change or a sign-out
    everywhere cannot spoil the next call): workspace A with an owner, the caller, and
    real resources for every path parameter."""
    case = probe.case
    owner = await make_user(session)
    workspace = await new_workspace(session, (owner, Role.owner))
    caller: User | None = None
    if probe.outsider:
        caller = await make_user(session)
        await new_workspace(session, (caller, Role.owner))
    elif probe.role is Role.owner:
        caller = owner
    elif probe.role is not None:
        caller = await make_user(session)
        await make_membership(session, workspace=workspace, user=caller, role=probe.role)
    own = ResourceScope(session, workspace.id, caller or owner)
    foreign = own
    if probe.foreign:
        stranger = await make_user(session)
        foreign = ResourceScope(
            session, (await new_workspace(session, (stranger, Role.owner))).id, stranger
        )
    values = {"workspace_id": str(workspace.id)}
    for name in case.resource_params:
        resource = resources[name]
        values[name] = await resource.make(foreign if resource.scoped else own)
    probe.url = fill_path(case.path, values)

    page = case.requirement.page
    probe.headers = {"accept": HTML_ACCEPT if page else "application/json"}
    csrf: str | None = None
    if caller is not None:
        if page or probe.cookie:
            browser = await sign_in_browser(session, caller, secret_key)
            probe.headers.update(browser.headers)
            csrf = browser.csrf_token if probe.send_csrf else None
        else:
            token, _ = await add_api_token(session, caller)
            probe.headers.update(bearer(token))
    if case.method in BODY_METHODS:
        if page:
            probe.form = {"csrf_token": csrf} if csrf else {}
        else:
            # The authorization dependencies answer before the body is validated, so
            # {} will do, except where the route's own resource lookup must answer.
            probe.json = case.valid_json if probe.foreign and case.valid_json else {}
    elif csrf and case.method in UNSAFE_METHODS:
        probe.headers["x-csrf-token"] = csrf
    if probe.foreign:
        probe.query = case.valid_query


def judge(probe: Probe, response: httpx.Response) -> str | None:
    """Why the response is wrong for the probe, or None."""
    status = response.status_code
    location = response.headers.get("location", "")
    got = f"got {status}" + (f" → {location}" if location else "")
    if status >= 400 and "html" not in response.headers.get("content-type", ""):
        got += f" {response.text[:160]}"
    shape = error_shape_problem(response) if status >= 400 else None
    if probe.expect == "sign-in":
        if probe.case.requirement.page:
            if status != 303 or not location.startswith(SIGN_IN_REDIRECT):
                return f"expected a 303 redirect to {SIGN_IN_REDIRECT}…, {got}"
        elif status != 401:
            return f"expected 401, {got}"
    elif probe.expect == "hidden" and status != 404:
        return f"expected 404 (no existence leak), {got}"
    elif probe.expect in ("refused", "csrf") and status != 403:
        return f"expected 403, {got}"
    elif probe.expect == "allowed":
        if (
            status >= 500
            or status in (401, 403, 404)
            or (400 <= status < 500 and status not in NON_AUTH_REFUSALS)
        ):
            return f"expected to be allowed (2xx, 3xx or {sorted(NON_AUTH_REFUSALS)}), {got}"
        if location.startswith(SIGN_IN_REDIRECT):
            return f"expected to be allowed, was sent to sign in: {got}"
    if shape:
        return f"error body: {shape}"
    return None


@dataclass
class MatrixResult:
    routes: int
    callers: int
    checks: int
    failures: list[str]
    extra: dict[str, int]

    @property
    def summary(self) -> str:
        extras = ", ".join(f"{count} {what}" for what, count in self.extra.items() if count)
        return (
            f"authorization matrix: {self.routes} routes × {self.callers} callers = "
            f"{self.routes * self.callers} checks" + (f", plus {extras}" if extras else "")
        )


async def run_matrix(
    client: httpx.AsyncClient,
    database: Database,
    cases: list[RouteCase],
    resources: Mapping[str, Resource],
    secret_key: str,
) -> MatrixResult:
    probes = plan_probes(cases, resources)
    async with database.write_session() as session:
        for probe in probes:
            await prepare(session, probe, resources, secret_key)
        await session.commit()
    failures: list[str] = []
    for probe in probes:
        response = await client.request(
            probe.case.method,
            probe.url,
            params=probe.query,
            headers=probe.headers,
            json=probe.json,
            data=probe.form,
        )
        problem = judge(probe, response)
        if problem:
            failures.append(f"{probe} ({probe.url}): {problem}")
    return MatrixResult(
        routes=len(cases),
        callers=2 + len(Role),
        checks=len(probes),
        failures=failures,
        extra={
            "cross-workspace resource checks": sum(p.foreign for p in probes),
            "CSRF checks": sum(p.expect == "csrf" for p in probes),
        },
    )
