"""Public keys from an issuer's JWKS document, chosen by ``kid``, cached and refreshed.

The keys are fetched on first use and again when the cache is older than ``cache_seconds``.
A token naming a ``kid`` the cache does not hold triggers a refresh at once (the issuer has
rotated its keys), but at most one per ``min_refresh_seconds``, so a stream of tokens with
made-up ``kid`` values cannot turn the service into a load generator against the issuer.
When the issuer cannot be reached, the keys already held keep working; with none held the
request is answered 503 rather than 401, since the token may well be good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from gatehouse.errors import ServiceUnavailable, Unauthenticated

__all__ = ["ASYMMETRIC_ALGORITHMS", "JwksKeySource"]

log = logging.getLogger(__name__)

# Symmetric algorithms (HS*) would make the issuer's public key a shared secret: never allowed.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


@dataclass(frozen=True)
class _Key:
    key: Any
    key_type: str
    algorithm: str | None
    curve: str | None


class JwksKeySource:
    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str],
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 10.0,
        timeout_seconds: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._algorithms = frozenset(algorithms)
        unknown = self._algorithms - ASYMMETRIC_ALGORITHMS
        if unknown:
            raise ValueError(f"not asymmetric signature algorithms: {sorted(unknown)}")
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._owns_client = client is None
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key_for(self, kid: str | None, algorithm: str) -> Any:
        if kid is None:
            raise Unauthenticated("the bearer token's header names no key (kid)")
        if self._stale():
            await self._refresh(reason="expired")
        if kid not in self._keys and self._may_refresh():
            await self._refresh(reason=f"unknown kid {kid!r}")
        if self._fetched_at is None:
            raise ServiceUnavailable(
                "the token issuer's keys cannot be fetched just now", jwks_url=self.url
            )
        found = self._keys.get(kid)
        if found is None:
            raise Unauthenticated(f"the issuer has no key {kid!r}")
        _check_fits(found, kid, algorithm)
        return found.key

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _stale(self) -> bool:
        return (
            self._fetched_at is None or self._clock() - self._fetched_at >= self._cache_seconds
        ) and self._may_refresh()

    def _may_refresh(self) -> bool:
        return (
            self._attempted_at is None
            or self._clock() - self._attempted_at >= self._min_refresh_seconds
        )

    async def _refresh(self, *, reason: str) -> None:
        async with self._lock:
            if not self._may_refresh():
                return  # another request refreshed while this one waited
            self._attempted_at = self._clock()
            self.fetches += 1
            try:
                response = await self._client.get(self.url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = self._parse(response.json())
            except (httpx.HTTPError, ValueError) as error:
                log.warning(
                    "cannot fetch the issuer's keys",
                    extra={
                        "jwks_url": self.url,
                        "reason": reason,
                        "error": str(error),
                        "keys_held": len(self._keys),
                    },
                )
                return
            self._keys = keys
            self._fetched_at = self._attempted_at
            log.info(
                "fetched the issuer's keys",
                extra={"jwks_url": self.url, "reason": reason, "kids": sorted(keys)},
            )

    def _parse(self, document: Any) -> dict[str, _Key]:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("the JWKS document has no keys list")
        keys: dict[str, _Key] = {}
        for entry in document["keys"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue  # a key no token can name
            if entry.get("use", "sig") != "sig":
                continue  # an encryption key
            try:
                parsed = jwt.PyJWK(entry)
                keys[entry["kid"]] = _Key(
                    parsed.key, str(entry.get("kty")), entry.get("alg"), entry.get("crv")
                )
            except jwt.PyJWTError as error:
                log.warning(
                    "skipping a key the JWKS holds",
                    extra={"kid": entry["kid"], "error": str(error)},
                )
        return keys


def _check_fits(found: _Key, kid: str, algorithm: str) -> None:
    """The key must be of the algorithm's type (and curve), and must not name another one."""
    if found.algorithm is not None and found.algorithm != algorithm:
        raise Unauthenticated(f"key {kid!r} is for {found.algorithm}, not {algorithm}")
    if found.key_type != _KEY_TYPE[algorithm[:2]]:
        raise Unauthenticated(f"key {kid!r} is an {found.key_type} key, not one for {algorithm}")
    curve = _CURVE.get(algorithm)
    if curve is not None and found.curve != curve:
        raise Unauthenticated(f"key {kid!r} is not on the curve {algorithm} uses ({curve})")
