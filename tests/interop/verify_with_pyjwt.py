#!/usr/bin/env python3
"""Verifies a Castellan access token with PyJWT, a third-party implementation.

Usage:
    verify_with_pyjwt.py [--expect-failure] BASE_URL ACCESS_TOKEN ISSUER AUDIENCE

Fetches BASE_URL/.well-known/jwks.json, picks the key named by the token's `kid`,
verifies signature, `exp`, `iat`, `nbf`, `iss` and `aud` (requiring exp, iat, sub
and jti), checks the header `typ` is `at+jwt`, and prints the claims as JSON.

Exit codes: 0 verified (with --expect-failure: verification failed as wanted);
1 verification failed (with --expect-failure: the token was accepted); 2 the check
itself could not run (bad arguments, JWKS unreachable or unusable).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import jwt
import requests

ACCESS_TYP = "at+jwt"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti"]


class SetupError(Exception):
    """The verification could not be attempted; never an expected failure."""


class VerificationError(Exception):
    """The token was refused."""


def fetch_jwks(base_url: str) -> jwt.PyJWKSet:
    url = base_url.rstrip("/") + "/.well-known/jwks.json"
    try:
        response = requests.get(url, timeout=30)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as e:
        raise SetupError(f"cannot fetch {url}: {e}") from e
    try:
        return jwt.PyJWKSet.from_dict(document)
    except jwt.PyJWTError as e:
        raise SetupError(f"unusable JWKS at {url}: {e}") from e


def verify(keys: jwt.PyJWKSet, token: str, issuer: str, audience: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise VerificationError(f"malformed token: {e}") from e
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise VerificationError("the token header has no kid")
    try:
        key = keys[kid]
    except KeyError as e:
        raise VerificationError(f"no key with kid {kid!r} in the JWKS") from e
    algorithm = key.algorithm_name
    if not algorithm:
        raise VerificationError(f"key {kid!r} names no algorithm")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError as e:
        raise VerificationError(f"{type(e).__name__}: {e}") from e
    typ = header.get("typ")
    if typ != ACCESS_TYP:
        raise VerificationError(f"header typ is {typ!r}, expected {ACCESS_TYP!r}")
    return claims


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect-failure", action="store_true", help="succeed only if the token is refused")
    parser.add_argument("base_url")
    parser.add_argument("access_token")
    parser.add_argument("issuer")
    parser.add_argument("audience")
    args = parser.parse_args(argv)

    try:
        keys = fetch_jwks(args.base_url)
        claims = verify(keys, args.access_token, args.issuer, args.audience)
    except SetupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except VerificationError as e:
        if args.expect_failure:
            print(f"refused as expected: {e}", file=sys.stderr)
            return 0
        print(f"verification failed: {e}", file=sys.stderr)
        return 1

    if args.expect_failure:
        print("verification unexpectedly succeeded", file=sys.stderr)
        print(json.dumps(claims), file=sys.stderr)
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
