"""OAuth 1.0a request signing for the SmugMug client.

`OAuth1Signer` is an httpx `Auth` that signs each request with authlib's RFC 5849 signer the way
the service checks it: query and form-encoded body parameters are part of the signature, JSON
and upload bodies are not, and the body is always sent as given. (authlib's own httpx signer
drops non-form bodies unless told otherwise, which turns every JSON POST into an empty one.)
With only an API key, requests carry `APIKey=` instead and can read public content.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx
from authlib.oauth1 import ClientAuth

from smugfs.config import Credentials

FORM = "application/x-www-form-urlencoded"


class OAuth1Signer(httpx.Auth):
    """Signs requests for a user's access token, or adds the API key for public reads."""

    requires_request_body = True

    def __init__(
        self,
        credentials: Credentials,
        *,
        needs_body: bool = True,
        callback: str | None = None,
        verifier: str | None = None,
    ) -> None:
        # Form bodies are part of the signature; an upload's raw body is not, and need not be
        # held in memory to sign it.
        self.requires_request_body = needs_body
        self._credentials = credentials
        # The login's steps sign before there is an access token: the request token's with
        # `callback`, its exchange for an access token with the request token and `verifier`.
        login_step = callback is not None or verifier is not None
        self._signer = (
            ClientAuth(
                credentials.api_key,
                credentials.api_secret,
                token=credentials.token or None,
                token_secret=credentials.token_secret or None,
                redirect_uri=callback,
                verifier=verifier,
            )
            if credentials.has_token or login_step
            else None
        )

    def __repr__(self) -> str:
        return f"OAuth1Signer(api_key={self._credentials.api_key[:4]}..., signed={self.signs})"

    @property
    def signs(self) -> bool:
        """Whether requests are signed for a user (else public reads by API key)."""
        return self._signer is not None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the `Authorization` header (or the `APIKey` parameter) to `request`."""
        if self._signer is None:
            request.url = request.url.copy_merge_params({"APIKey": self._credentials.api_key})
            yield request
            return
        content_type = request.headers.get("content-type", "")
        is_form = content_type.split(";")[0].strip().lower() == FORM
        body = request.content.decode("utf-8") if is_form and self.requires_request_body else ""
        headers = {"Content-Type": FORM} if is_form else {}
        _, signed_headers, _ = self._signer.sign(request.method, str(request.url), headers, body)
        request.headers["Authorization"] = signed_headers["Authorization"]
        yield request
