"""HTTP plumbing under `NodeClient`: URLs and tokens, error mapping, JSON decoding, streams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from ._exceptions import (
    AuthenticationFailed,
    NodeConnectionError,
    NodeResponseError,
    NodeServerError,
    error_from_body,
)

__all__ = ["BaseClient"]

T = TypeVar("T")


class BaseClient:
    """Sends one request per call and turns every failure into a `NodeError` subclass."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        url_token = next((v for k, v in parse_qsl(parts.query) if k == "token"), None)
        self.url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.token = token if token is not None else url_token
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            # Unbounded so that parallel transfers never wait on the pool (and time out there).
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}{', token=...' if self.token else ''})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @contextmanager
    def _errors(self, url: str) -> Iterator[None]:
        where = url.split("?", 1)[0]
        try:
            yield
        except httpx.TimeoutException as e:
            raise NodeConnectionError(
                f"Timed out talking to {where} ({type(e).__name__}); the node may be busy: retry later.",
                url=url,
            ) from e
        except httpx.TransportError as e:
            raise NodeConnectionError(
                f"Could not talk to {where} ({type(e).__name__}: {e}); check that the node is up "
                "and reachable, then retry.",
                url=url,
            ) from e
        except httpx.HTTPError as e:
            raise NodeServerError(f"Bad HTTP exchange with {where}: {e}", url=url) from e

    def _params(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        # NodeODM reads the token from the query string only.
        return {**(params or {}), **({"token": self.token} if self.token else {})}

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        url = f"{self.url}{path}"
        with self._errors(url):
            response = self._http.request(method, path, params=self._params(params), **kwargs)
        return self._decode(response)

    @contextmanager
    def _stream(self, url: str, headers: dict[str, str], with_token: bool = True) -> Iterator[httpx.Response]:
        """GET `url` as a stream; error bodies raise, other answers are left to the caller."""
        request = self._http.build_request("GET", url, headers=headers,
                                           params=self._params() if with_token else None)
        with self._errors(str(request.url)):
            response = self._http.send(request, stream=True)
        try:
            content_type = response.headers.get("Content-Type", "")
            if response.status_code not in (200, 206, 416) or "json" in content_type:
                with self._errors(str(response.url)):
                    response.read()
                self._decode(response)
            yield response
        finally:
            response.close()

    def _decode(self, response: httpx.Response) -> Any:
        url, status = str(response.url), response.status_code
        where = f"{response.request.method} {url.split('?', 1)[0]}"
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body and status < 500:
            raise error_from_body(body, url=url, status_code=status)
        if status == 401:
            raise AuthenticationFailed(
                f"{where} answered 401 Unauthorized; pass the node's token "
                "(NodeClient(url, token=...) or '?token=...' in the URL).",
                url=url, no_retry=True, status_code=status,
            )
        if not 200 <= status < 300:
            snippet = response.text[:200].strip()
            raise NodeServerError(f"{where} answered HTTP {status}: {snippet!r}", url=url, status_code=status)
        if body is None and response.content.strip() != b"null":
            raise NodeServerError(f"{where} answered something that is not JSON: "
                                  f"{response.text[:200]!r}", url=url, status_code=status)
        return body

    def _parse(self, parse: Callable[[Any], T], body: Any, what: str) -> T:
        try:
            return parse(body)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise NodeServerError(f"{self.url} answered {what} in an unexpected shape ({e!r}): "
                                  f"{str(body)[:200]}", url=self.url) from e

    def _command(self, path: str, data: dict[str, Any]) -> None:
        body = self._call("POST", path, data=data)
        if not (isinstance(body, dict) and body.get("success") is True):
            raise NodeResponseError(f"POST {self.url}{path} was refused: {body!r}", url=self.url)

    def _uuid_from(self, body: Any, what: str) -> str:
        uuid = body.get("uuid") if isinstance(body, dict) else None
        if isinstance(uuid, str):
            return uuid
        raise NodeServerError(f"{what} on {self.url} answered without a uuid: {body!r}", url=self.url)

