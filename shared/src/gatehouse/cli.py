"""The ``gatehouse`` console command."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from datetime import timedelta
from pathlib import Path

import httpx
from aiokafka.errors import KafkaError

from gatehouse.auth import ROLE_NAME, DevIssuer, Role
from gatehouse.events.topics import governance_events_topic, intake_events_topic
from gatehouse.identity import identifier_problem
from gatehouse.messaging.verify import TopicVerification, verify_topic
from gatehouse.replay import replay as replay_projection
from gatehouse.settings import default_dev_key_file

__all__ = ["main"]

SERVICES = ("intake", "governance", "reporting")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gatehouse", description="Gatehouse operations")
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="print a bearer token from the development issuer")
    token.add_argument(
        "--sub",
        required=True,
        type=_subject,
        help="the subject: an identifier such as alice or erp@example.com",
    )
    token.add_argument(
        "--role",
        action="append",
        required=True,
        type=_role,
        help="a role; repeat for several: "
        + ", ".join(role.value for role in Role)
        + ", or a business role an approver rule names (e.g. finance)",
    )
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    token.add_argument("--key-file", type=Path, default=default_dev_key_file())
    token.add_argument("--issuer", default="gatehouse-dev")
    token.add_argument("--audience", default="gatehouse")

    migrate = commands.add_parser(
        "migrate",
        help="upgrade a service's database to the latest "
        "schema (uses the service's *_DATABASE_URL)",
    )
    migrate.add_argument("service", choices=[*SERVICES, "all"])

    verify = commands.add_parser(
        "verify",
        help="check the hash chains and log heads of the published event logs, "
        "reading Kafka only; exit 0 when intact, 1 on a break, 2 when it cannot check",
    )
    verify.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    verify.add_argument("--namespace", default="", help="topic prefix (as *_TOPIC_NAMESPACE)")
    verify.add_argument(
        "--topic",
        action="append",
        dest="topics",
        metavar="TOPIC",
        help="a topic to check; repeat for several "
        "(default: the intake and governance event topics)",
    )
    verify.add_argument(
        "--timeout", type=float, default=120.0, help="give up (exit 2) after this many seconds"
    )
    verify.add_argument("--json", action="store_true", help="machine-readable output")

    replay = commands.add_parser(
        "replay",
        help="rebuild a reporting projection from the start of the topics into "
        "shadow tables, then swap it in (the live one serves meanwhile); shows progress",
    )
    replay.add_argument("--url", default="http://127.0.0.1:8003", help="reporting's base URL")
    replay.add_argument(
        "--name", default="reporting.projections", help="the projection (see GET /v1/projections)"
    )
    replay.add_argument(
        "--token",
        help="a pmo_admin bearer token (default: one from the development issuer's key file)",
    )
    replay.add_argument("--key-file", type=Path, default=default_dev_key_file())
    replay.add_argument("--timeout", type=float, default=3600.0)

    args = parser.parse_args(argv)
    if args.command == "token":
        issuer = DevIssuer(args.key_file, issuer=args.issuer, audience=args.audience)
        print(issuer.issue(args.sub, args.role, lifetime=timedelta(seconds=args.ttl)))
        return 0
    if args.command == "migrate":
        for service in SERVICES if args.service == "all" else (args.service,):
            module = importlib.import_module(f"{service}.bootstrap")
            module.migrate()
            print(f"{service}: database at the latest revision", file=sys.stderr)
        return 0
    if args.command == "verify":
        return _verify(args)
    if args.command == "replay":
        token_value = args.token or DevIssuer(
            args.key_file, issuer="gatehouse-dev", audience="gatehouse"
        ).issue("gatehouse-replay", [Role.PMO_ADMIN], lifetime=timedelta(hours=2))
        try:
            return replay_projection(args.url, token_value, args.name, timeout=args.timeout)
        except httpx.HTTPError as error:
            print(
                f"gatehouse replay: cannot reach reporting at {args.url}: {error}", file=sys.stderr
            )
            return 2
    parser.error(f"unknown command {args.command}")
    return 2


def _verify(args: argparse.Namespace) -> int:
    topics: list[str] = args.topics or [
        intake_events_topic(args.namespace),
        governance_events_topic(args.namespace),
    ]

    async def check_all() -> list[TopicVerification]:
        async with asyncio.timeout(args.timeout):
            return [await verify_topic(args.bootstrap_servers, topic) for topic in topics]

    try:
        results = asyncio.run(check_all())
    except (KafkaError, OSError, TimeoutError) as error:
        message = str(error) or type(error).__name__
        if args.json:
            print(json.dumps({"error": message}))
        print(f"gatehouse verify: cannot check: {message}", file=sys.stderr)
        return 2
    intact = all(result.report.intact for result in results)
    if args.json:
        print(
            json.dumps(
                {"intact": intact, "topics": [result.as_dict() for result in results]}, indent=2
            )
        )
    else:
        for result in results:
            _print_verification(result)
    return 0 if intact else 1


def _print_verification(result: TopicVerification) -> None:
    report = result.report
    print(f"{result.topic}:")
    print(f"  events checked:  {report.events_checked} ({report.records} records)")
    print(f"  streams checked: {report.streams_checked}")
    head = (
        f"{report.log_head} at position {report.log_position}"
        if report.log_head
        else "none (empty log)"
    )
    print(f"  log head:        {head}")
    if result.not_events:
        print(f"  not Gatehouse events (skipped): {result.not_events} records")
    first = report.first_break
    if first is None:
        print("  chain intact")
        return
    print(f"  CHAIN BROKEN: {first.describe()}")
    for more in report.breaks[1:]:
        print(f"  also: {more.describe()}")


def _subject(value: str) -> str:
    """A subject the services accept: the development issuer mints no token they refuse."""
    problem = identifier_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a Gatehouse identifier: it {problem}")
    return value


def _role(value: str) -> str:
    if not ROLE_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a role name (lower case letters, "
            "digits, _ . -; starting with a letter)"
        )
    return value


if __name__ == "__main__":
    raise SystemExit(main())
