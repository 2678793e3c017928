"""The ``gatehouse`` console command."""

from __future__ import annotations

import argparse
import importlib
import sys
from datetime import timedelta
from pathlib import Path

from gatehouse.auth import ROLE_NAME, DevIssuer, Role
from gatehouse.settings import default_dev_key_file

__all__ = ["main"]

SERVICES = ("intake", "governance", "reporting")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gatehouse", description="Gatehouse operations")
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="print a bearer token from the development issuer")
    token.add_argument("--sub", required=True, help="the subject (user id)")
    token.add_argument("--role", action="append", required=True, type=_role,
                       help="a role; repeat for several: "
                       + ", ".join(role.value for role in Role)
                       + ", or a business role an approver rule names (e.g. finance)")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    token.add_argument("--key-file", type=Path, default=default_dev_key_file())
    token.add_argument("--issuer", default="gatehouse-dev")
    token.add_argument("--audience", default="gatehouse")

    migrate = commands.add_parser("migrate", help="upgrade a service's database to the latest "
                                  "schema (uses the service's *_DATABASE_URL)")
    migrate.add_argument("service", choices=[*SERVICES, "all"])

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
    parser.error(f"unknown command {args.command}")
    return 2


def _role(value: str) -> str:
    if not ROLE_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a role name (lower case letters, "
                                         "digits, _ . -; starting with a letter)")
    return value


if __name__ == "__main__":
    raise SystemExit(main())
