"""The ``almanac`` command."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError, OperationalError

from app.settings import ConfigError, Settings, load_settings

cli = typer.Typer(
    help="Almanac: editorial content calendar and scheduler.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
user_cli = typer.Typer(help="Manage users.", no_args_is_help=True)
cli.add_typer(user_cli, name="user")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
T = TypeVar("T")
STOP_TIMEOUT_SECONDS = 20


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]almanac:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise fail(str(exc)) from None
    from app.logging import configure_logging

    configure_logging(settings.log_level, settings.log_format.value)
    return settings


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except ConfigError as exc:
        raise fail(str(exc)) from None


async def check_database(settings: Settings) -> None:
    """Connect once, so a wrong URL or a down server is one clear line, not a traceback."""
    from sqlalchemy import text

    from app.db import create_engine

    url = settings.database
    if settings.is_sqlite and url.database:
        _check_sqlite_folder(url.database)
    engine = create_engine(url, connect_args={"timeout": 5} if not settings.is_sqlite else {})
    try:
        async with asyncio.timeout(15), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError, OSError, TimeoutError) as exc:
        reason = _short_reason(exc)
        safe = url.render_as_string(hide_password=True)
        raise ConfigError(f"ALMANAC_DATABASE_URL: cannot connect to {safe} ({reason})") from None
    finally:
        await engine.dispose()


def _check_sqlite_folder(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise ConfigError(f"ALMANAC_DATABASE_URL: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"ALMANAC_DATABASE_URL: the folder {folder} is not writable")


def _short_reason(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return text[:200]


async def _migrate(settings: Settings) -> list[str]:
    from app import migrate
    from app.db import create_engine

    await check_database(settings)
    engine = create_engine(settings.database)
    try:
        before = await migrate.current_revisions(engine)
        await migrate.upgrade(engine)
        after = await migrate.current_revisions(engine)
        if engine.dialect.name == "postgresql":
            # The scheduler's function (made here by the role that migrates: the
            # scheduler's own role may not be allowed to create anything).
            from scheduler.pg_cycle import make_function

            async with engine.connect() as connection:
                raw = await connection.get_raw_connection()
                await make_function(raw.driver_connection)
    finally:
        await engine.dispose()
    return [] if before == after else sorted(after)


@cli.command()
def migrate() -> None:
    """Upgrade the database to the latest schema."""
    settings = _settings()
    changed = _run_async(_migrate(settings))
    out.print(f"Database migrated to {changed[0]}." if changed else "Database already up to date.")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (ALMANAC_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ALMANAC_PORT).")] = None,
) -> None:
    """Run the web app (the API and the pages)."""
    import uvicorn

    from app.main import create_app

    settings = _settings()
    _run_async(check_database(settings))
    config = uvicorn.Config(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )
    uvicorn.Server(config).run()


@cli.command("scheduler")
def scheduler_command() -> None:
    """Run a scheduler process (several may run, on several machines)."""
    from scheduler.main import freeze_startup_heap, run_scheduler

    settings = _settings()
    _run_async(check_database(settings))
    freeze_startup_heap()
    _run_async(run_scheduler(settings))


@cli.command()
def run(
    demo: Annotated[bool, typer.Option(help="Load the demo workspace if it is missing.")] = False,
) -> None:
    """Migrate, then run the web app and the scheduler as two processes."""
    settings = _settings()
    _run_async(_migrate(settings))
    if demo:
        _print_demo(_run_async(_load_demo(settings, reset=False)))
    out.print(
        f"Almanac on [bold]http://{settings.host}:{settings.port}[/] (web + scheduler). "
        "Ctrl-C stops both.",
        highlight=False,
    )
    sys.exit(_supervise([["serve"], ["scheduler"]]))


def _supervise(commands: list[list[str]]) -> int:
    """Run child ``almanac`` processes; when one ends or a signal comes, stop all."""
    stopping = False

    def _stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    # Own sessions: a Ctrl-C reaches only this process, which stops the children in order.
    children = [
        subprocess.Popen([sys.executable, "-m", "app.cli", *args], start_new_session=True)
        for args in commands
    ]
    code = 0
    try:
        while not stopping:
            ended = [child for child in children if child.poll() is not None]
            if ended:
                code = ended[0].returncode or 1
                name = " ".join(ended[0].args[3:])
                err.print(f"almanac: {name} exited ({ended[0].returncode}); stopping.")
                break
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code


async def _load_demo(settings: Settings, reset: bool):  # type: ignore[no-untyped-def]
    from app.db import Database, create_engine
    from app.demo import load_demo

    await check_database(settings)
    database = Database(create_engine(settings.database))
    try:
        return await load_demo(database, settings, reset=reset)
    finally:
        await database.dispose()


def _print_demo(summary: Any) -> None:
    for line in summary.lines():
        out.print(line, highlight=False, markup=False)


@cli.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Delete and recreate the demo workspace.")] = False,
) -> None:
    """Load a demo workspace: plans, channels and about 40 posts in every status."""
    settings = _settings()
    _run_async(_migrate(settings))
    _print_demo(_run_async(_load_demo(settings, reset=reset)))


@user_cli.command("create")
def user_create(
    email: Annotated[str, typer.Option(prompt=True, help="Sign-in e-mail.")],
    name: Annotated[str, typer.Option(prompt="Display name", help="Display name.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="ALMANAC_NEW_USER_PASSWORD",
            help="Password (prompted when omitted).",
        ),
    ],
) -> None:
    """Create a user who can sign in."""
    from app.db import Database, create_engine, session_scope
    from app.errors import AppError
    from app.users.service import create_user

    settings = _settings()

    async def _create() -> str:
        await check_database(settings)
        database = Database(create_engine(settings.database))
        try:
            async with session_scope(database.write_session) as session:
                user = await create_user(session, email=email, display_name=name, password=password)
            return user.email
        finally:
            await database.dispose()

    try:
        created = _run_async(_create())
    except AppError as exc:
        raise fail(exc.detail) from None
    out.print(f"User {created} created.")


@cli.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored secret (channel credentials, webhook URLs and signing
    secrets) with the current (first) key of ALMANAC_ENCRYPTION_KEYS, so older keys
    can then be removed."""
    from app.crypto import CredentialBox
    from app.db import Database, create_engine, session_scope
    from app.rotation import Rotation, rotate_keys

    settings = _settings()

    async def _rotate() -> Rotation:
        await check_database(settings)
        database = Database(create_engine(settings.database))
        try:
            # One transaction: every secret is re-encrypted, or none is.
            async with session_scope(database.write_session) as session:
                return await rotate_keys(session, CredentialBox(settings.encryption_keys))
        finally:
            await database.dispose()

    result = _run_async(_rotate())
    if result.unreadable:
        for kind, row_id, name in result.unreadable:
            err.print(
                f"almanac: {kind} {row_id} ({name}): no key in ALMANAC_ENCRYPTION_KEYS "
                "decrypts its secret",
                highlight=False,
                markup=False,
            )
        raise fail(
            f"{len(result.unreadable)} secret(s) cannot be decrypted, so nothing was "
            "re-encrypted. Add back the key they were sealed with (after the current one), "
            "or enter those channels' credentials (or webhooks) again, then rerun.",
            code=1,
        )
    plural = "secret" if result.rotated == 1 else "secrets"
    out.print(f"Re-encrypted {result.rotated} stored {plural} with the current key.")


@cli.command()
def keygen() -> None:
    """Print a new encryption key for ALMANAC_ENCRYPTION_KEYS and a secret key."""
    import secrets

    from cryptography.fernet import Fernet

    typer.echo(f"ALMANAC_SECRET_KEY={secrets.token_urlsafe(48)}")
    typer.echo(f"ALMANAC_ENCRYPTION_KEYS={Fernet.generate_key().decode()}")


@cli.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")
    ],
    workspace: Annotated[str, typer.Option(help="The workspace's slug or id.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row; write nothing.")
    ] = False,
) -> None:
    """Import posts from a CSV file (docs/csv-format.md): all of it, or nothing when a
    row has a problem (each is printed as "row N, column C: message")."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from app.db import Database, create_engine, session_scope
    from app.errors import AppError
    from app.imports import service

    settings = _settings()
    data = file.read_bytes()
    if len(data) > service.MAX_BYTES:
        raise fail(service.too_large().detail, code=1)

    async def _import(progress: Progress) -> service.Outcome:
        await check_database(settings)
        database = Database(create_engine(settings.database))
        tasks: dict[str, Any] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                label = "Checking rows" if stage == "checking" else "Writing posts"
                tasks[stage] = progress.add_task(label, total=total)
            progress.update(tasks[stage], completed=done)

        try:
            async with session_scope(database.read_session) as session:
                found = await service.find_workspace(session, workspace)
            return await service.run_import(
                database,
                found.id,
                data,
                dry_run=dry_run,
                actor_label="almanac import (command line)",
                progress=step,
            )
        finally:
            await database.dispose()

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err
    )
    try:
        with progress:
            outcome = _run_async(_import(progress))
    except service.ImportRefused as exc:
        for problem in exc.problems:
            err.print(
                f"row {problem.row}, column {problem.column}: {problem.message}",
                highlight=False,
                markup=False,
            )
        raise fail(exc.detail, code=1) from None
    except AppError as exc:
        raise fail(exc.detail, code=1) from None
    for warning in outcome.warnings:
        err.print(
            f"warning: row {warning.row}, column {warning.column}: {warning.message}",
            highlight=False,
            markup=False,
        )
    posts = f"{outcome.posts} post{'s' if outcome.posts != 1 else ''}"
    variants = f"{outcome.variants} cop{'ies' if outcome.variants != 1 else 'y'}"
    if dry_run:
        out.print(
            f"Dry run: {outcome.rows} rows are fine; {posts} with {variants} would be created. "
            "Nothing was written.",
            highlight=False,
        )
    else:
        out.print(
            f"Imported {posts} with {variants} from {outcome.rows} rows "
            f"(checked in {outcome.check_seconds:.2f} s, written in "
            f"{(outcome.write_seconds or 0):.2f} s).",
            highlight=False,
        )


@cli.command("export")
def export_command(
    workspace: Annotated[str, typer.Option(help="The workspace's slug or id.")],
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Export a workspace's posts as CSV, in the format the import reads."""
    from app.db import Database, create_engine, session_scope
    from app.errors import AppError
    from app.imports import service

    settings = _settings()

    async def _export() -> str:
        await check_database(settings)
        database = Database(create_engine(settings.database))
        try:
            async with session_scope(database.read_session) as session:
                found = await service.find_workspace(session, workspace)
            return "".join([line async for line in service.export_lines(database, found.id)])
        finally:
            await database.dispose()

    try:
        text = _run_async(_export())
    except AppError as exc:
        raise fail(exc.detail, code=1) from None
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8", newline="")
        err.print(f"Exported to {output}.", highlight=False)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
