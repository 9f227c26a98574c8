"""The `wecom-warden` command: serve, worker, migrate, simulate, demo, create-token, revoke-token,
check-config, policies evaluate."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from app.settings import (
    DEFAULT_DATABASE_URL,
    ConfigError,
    Settings,
    check_database_url,
    load_settings,
)


def _fail(message: str) -> int:
    print(f"wecom-warden: {message}", file=sys.stderr)
    return 2


def _settings() -> Settings:
    return load_settings()


def _database_url() -> str:
    """Only the database URL: `migrate` and `create-token` need no WeCom secrets."""
    url = os.environ.get("WARDEN_DATABASE_URL", DEFAULT_DATABASE_URL)
    try:
        return check_database_url(url)
    except ValueError as exc:
        raise ConfigError(f"configuration error: WARDEN_DATABASE_URL {exc}") from None


async def _ensure_migrated(url: str) -> None:
    from app.db import check_migrated, make_engine

    engine = make_engine(url)
    try:
        await check_migrated(engine)
    finally:
        await engine.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.httpserver import ServerLimits, server_config
    from app.logs import configure_logging
    from app.main import create_app

    settings = _settings()
    configure_logging(settings.log_level)
    asyncio.run(_ensure_migrated(settings.database_url))
    app = create_app(settings, run_worker=False if args.no_worker else None)
    limits = ServerLimits.from_settings(settings)
    server = uvicorn.Server(
        server_config(
            app,
            host=args.host,
            port=args.port,
            limits=limits,
            proxy_headers=True,
            timeout_graceful_shutdown=10,
        )
    )
    worker = "off" if args.no_worker or not settings.run_worker else "in-process"
    print(
        f"wecom-warden: serving on http://{args.host}:{args.port} (callbacks /wecom/callback, "
        f"admin API /api/v1, docs /docs; worker {worker}, dry-run "
        f"{'on' if settings.dry_run else 'off'})",
        file=sys.stderr,
        flush=True,
    )
    server.run()
    return 0 if server.started else 1


async def _run_worker(settings: Settings) -> None:
    from app.db import make_engine, make_sessionmaker
    from app.runtime import make_executor, make_wecom_client, make_worker

    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    wecom = make_wecom_client(settings)
    worker = make_worker(settings, sessions, make_executor(settings, sessions, wecom), wecom)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await worker.run(stop)
    finally:
        await wecom.aclose()
        await engine.dispose()


def cmd_worker(_: argparse.Namespace) -> int:
    from app.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    asyncio.run(_ensure_migrated(settings.database_url))
    asyncio.run(_run_worker(settings))
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from app.db import head_revision, run_migrations
    from app.settings import mask_url

    url = _database_url()
    run_migrations(url)
    print(f"database {mask_url(url)} is at revision {head_revision()}")
    return 0


def cmd_create_token(args: argparse.Namespace) -> int:
    from app import repository
    from app.db import in_session

    token = repository.new_token()
    asyncio.run(
        in_session(_database_url(), lambda s: repository.add_admin_token(s, name=args.name, token=token))
    )
    print(f"admin token for {args.name!r} (shown once, stored only as a hash):")
    print(token)
    return 0


def cmd_revoke_token(args: argparse.Namespace) -> int:
    from app import repository
    from app.db import in_session

    revoked = asyncio.run(
        in_session(_database_url(), lambda s: repository.revoke_admin_tokens(s, name=args.name))
    )
    print(f"revoked {revoked} admin token(s) named {args.name!r}")
    return 0 if revoked else 1


def cmd_check_config(_: argparse.Namespace) -> int:
    settings = _settings()
    width = max(len(k) for k in settings.describe())
    for name, value in settings.describe().items():
        print(f"{name:<{width}}  {value}")
    print("configuration OK")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from app.devtools.simulate import run_simulate

    return run_simulate(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from app.devtools.demo import run_demo

    return run_demo(keep_running=args.keep_running, database_url=args.database_url)


def cmd_policies_evaluate(args: argparse.Namespace) -> int:
    from app.content.evaluate_cli import run_policies_evaluate

    return run_policies_evaluate(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wecom-warden", description="Enforces work-group rules on WeCom (企业微信)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service (and the worker, by default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--no-worker", action="store_true", help="do not run the job worker in this process")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="run only the job worker").set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(func=cmd_migrate)

    token = sub.add_parser("create-token", help="create an admin API token")
    token.add_argument("--name", default="admin", help="who the token is for")
    token.set_defaults(func=cmd_create_token)
    revoke = sub.add_parser("revoke-token", help="revoke the admin API tokens with a name")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_revoke_token)

    sub.add_parser("check-config", help="validate and print the configuration (secrets masked)").set_defaults(
        func=cmd_check_config
    )

    sim = sub.add_parser("simulate", help="run the WeCom simulator on 127.0.0.1")
    sim.add_argument("--port", type=int, default=8081)
    sim.add_argument(
        "--org",
        type=Path,
        default=None,
        help="org YAML (departments, users, groups); default: the bundled demo org",
    )
    sim.add_argument(
        "--callback-url",
        default=None,
        help="where to deliver callbacks, e.g. http://127.0.0.1:8080/wecom/callback",
    )
    sim.set_defaults(func=cmd_simulate)

    demo = sub.add_parser("demo", help="the service beside the simulator, playing a short story")
    demo.add_argument(
        "--keep-running", action="store_true", help="keep the service and simulator up after the story"
    )
    demo.add_argument(
        "--database-url",
        default=None,
        help="default: ./wecom-warden-demo.db, recreated on each run (never "
        "WARDEN_DATABASE_URL, the database `serve` uses)",
    )
    demo.set_defaults(func=cmd_demo)

    policies = sub.add_parser("policies", help="content policies: try them on messages")
    policies_sub = policies.add_subparsers(dest="policies_command", required=True)
    evaluate = policies_sub.add_parser(
        "evaluate",
        help='judge each line of a file (text, or JSON {"text": …}) and print one JSON line per line',
        description="Nothing is stored or acted. Without --chat-id: the work-group preset and a first "
        "offence (the global word lists of WARDEN_DATABASE_URL when it is set). With it: that group's "
        "document, word lists, mode and each sender's strikes, from WARDEN_DATABASE_URL.",
    )
    evaluate.add_argument("file", metavar="FILE|-", help="a UTF-8 file, one message a line; - for stdin")
    evaluate.add_argument("--chat-id", default=None, help="judge as in this registered group")
    evaluate.add_argument(
        "--sent-at",
        default=None,
        help="ISO 8601 time for lines that give none (default: now; quiet hours depend on it)",
    )
    evaluate.add_argument(
        "--progress-every",
        type=int,
        default=10_000,
        help="progress on stderr every N lines (and every second)",
    )
    evaluate.set_defaults(func=cmd_policies_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from app.db import DatabaseNotReady

        if isinstance(exc, DatabaseNotReady):
            return _fail(str(exc))
        raise


if __name__ == "__main__":
    sys.exit(main())
