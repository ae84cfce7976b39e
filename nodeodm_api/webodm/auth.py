"""WebODM's authentication: `POST /api/token-auth/`, JWTs, and who a request comes from.

Passwords are stored as salted scrypt hashes. Tokens are HS256 JWTs signed with a key kept
in the data folder (or ODMFLOW_SECRET_KEY), valid for six hours as in WebODM. Rejected
credentials answer 403 with DRF's messages, never 401, because WebODM does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from starlette.requests import Request
from starlette.responses import Response

from .common import JSON, ApiError, api, body
from .db import User

if TYPE_CHECKING:
    from .service import WebODM

SECRET_ENV = "ODMFLOW_SECRET_KEY"
TOKEN_LIFETIME = timedelta(hours=6)
NO_CREDENTIALS = "Authentication credentials were not provided."
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


# Passwords --------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=len(expected),
                                n=int(n), r=int(r), p=int(p))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Tokens -----------------------------------------------------------------------------------
def secret_key(folder: Path) -> str:
    """ODMFLOW_SECRET_KEY, else a random key made once and kept (owner-only) in `folder`."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    path = folder / "secret_key"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".secret_key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)  # first writer wins when two processes start together
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def issue_token(user: User, key: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    payload = {"user_id": user.id, "username": user.username, "email": user.email,
               "exp": int((now + TOKEN_LIFETIME).timestamp())}
    return jwt.encode(payload, key, algorithm="HS256")


def decode_token(token: str, key: str) -> dict[str, Any]:
    try:
        payload: dict[str, Any] = jwt.decode(token, key, algorithms=["HS256"])
    except jwt.ExpiredSignatureError:
        raise ApiError.detail(403, "Signature has expired.") from None
    except jwt.InvalidTokenError:
        raise ApiError.detail(403, "Error decoding signature.") from None
    return payload


# Requests ---------------------------------------------------------------------------------
def service(request: Request) -> WebODM:
    svc: WebODM = request.app.state.webodm
    return svc


async def current_user(request: Request) -> User | None:
    """The caller, or None when no credentials came; bad credentials raise DRF's 403."""
    svc = service(request)
    header = request.headers.get("authorization", "")
    parts = header.split()
    if parts and parts[0].lower() == "basic":
        return await _basic(svc, parts)
    if parts and parts[0].lower() == "jwt":
        if len(parts) == 1:
            raise ApiError.detail(403, "Invalid Authorization header. No credentials provided.")
        if len(parts) > 2:
            raise ApiError.detail(403, "Invalid Authorization header. Credentials string should not contain spaces.")
        token: str | None = parts[1]
    else:
        token = request.query_params.get("jwt")
    if token is None:
        return None
    payload = decode_token(token, svc.secret)
    user = await svc.records.user_by_id(payload.get("user_id"))
    if user is None or user.username != payload.get("username"):
        raise ApiError.detail(403, "Invalid signature.")
    if not user.is_active:
        raise ApiError.detail(403, "User account is disabled.")
    return user


async def _basic(svc: WebODM, parts: list[str]) -> User:
    if len(parts) != 2:
        raise ApiError.detail(403, "Invalid basic header. No credentials provided.")
    try:
        username, _, password = base64.b64decode(parts[1]).decode().partition(":")
    except (ValueError, binascii.Error):
        raise ApiError.detail(403, "Invalid basic header. Credentials not correctly base64 encoded.") from None
    user = await svc.records.user_by_name(username)
    if user is None or not user.is_active or not await asyncio.to_thread(check_password, password, user.password):
        raise ApiError.detail(403, "Invalid username/password.")
    return user


async def require_user(request: Request) -> User:
    user = await current_user(request)
    if user is None:
        raise ApiError.detail(403, NO_CREDENTIALS)
    return user


async def _token_auth(request: Request) -> Response:
    data = await body(request)
    errors = {}
    for field in ("username", "password"):
        if field not in data:
            errors[field] = ["This field is required."]
        elif not str(data[field]):
            errors[field] = ["This field may not be blank."]
    if errors:
        raise ApiError(400, errors)
    svc = service(request)
    user = await svc.records.user_by_name(str(data["username"]))
    if user is None or not await asyncio.to_thread(check_password, str(data["password"]), user.password):
        raise ApiError(400, {"non_field_errors": ["Unable to login with provided credentials."]})
    if not user.is_active:
        raise ApiError(400, {"non_field_errors": ["User account is disabled."]})
    return JSON({"token": issue_token(user, svc.secret)})


token_auth = api({"POST": _token_auth})
