"""``gatehouse replay``: rebuild one of reporting's projections and show its progress.

It asks reporting to rebuild (``POST /v1/admin/projections/{name}/rebuild``), then follows
``GET /v1/projections`` and draws a progress bar until the rebuild is done or failed. The live
projection keeps serving all along; the rebuilt one replaces it at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import httpx

__all__ = ["progress_line", "replay"]

BAR = 30


def progress_line(name: str, rebuild: dict[str, Any]) -> str:
    read, total = rebuild.get("read", 0), rebuild.get("total")
    if total:
        done = min(read / total, 1.0)
        filled = int(BAR * done)
        bar = f"[{'#' * filled}{'-' * (BAR - filled)}] {100 * done:5.1f}%"
        count = f"{read:,}/{total:,} events"
    else:
        bar, count = f"[{'-' * BAR}]   ... ", f"{read:,} events"
    rate = rebuild.get("events_per_second")
    speed = f" {rate:,.0f} ev/s" if rate else ""
    return f"{name} {bar} {count} ({rebuild.get('state')}){speed}"


def replay(
    base_url: str,
    token: str,
    name: str,
    *,
    poll_seconds: float = 0.5,
    timeout: float = 3600.0,
    out: TextIO | None = None,
) -> int:
    """Run a rebuild to its end; 0 when done, 1 when it failed, 2 when it could not start."""
    out = out or sys.stderr
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        started = client.post(f"/v1/admin/projections/{name}/rebuild")
        if started.status_code != 202:
            detail = (
                started.json().get("detail")
                if started.headers.get("content-type", "").endswith("json")
                else started.text
            )
            print(f"gatehouse replay: {started.status_code}: {detail}", file=out)
            return 2
        deadline = time.monotonic() + timeout
        interactive = out.isatty()
        rebuild: dict[str, Any] = started.json()
        while True:
            line = progress_line(name, rebuild)
            print(
                f"\r{line}" if interactive else line,
                end="" if interactive else "\n",
                file=out,
                flush=True,
            )
            if rebuild.get("state") in ("done", "failed"):
                break
            if time.monotonic() > deadline:
                print(f"\ngatehouse replay: still running after {timeout:.0f} s", file=out)
                return 1
            time.sleep(poll_seconds)
            projections = client.get("/v1/projections").json()
            rebuild = next(p["rebuild"] for p in projections if p["name"] == name)
        if interactive:
            print(file=out)
        if rebuild["state"] == "failed":
            print(f"gatehouse replay: failed: {rebuild.get('error')}", file=out)
            return 1
        print(
            f"gatehouse replay: {name} rebuilt from {rebuild['read']:,} events "
            f"({rebuild['applied']:,} applied, {rebuild['skipped']:,} skipped) and swapped "
            "in",
            file=out,
        )
        return 0
