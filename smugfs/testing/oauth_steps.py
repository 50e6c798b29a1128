"""The three steps of the OAuth 1.0a login against an emulator, spoken with authlib's signer
(an independent speaker of the protocol, never the smugfs client): shared by the tests of the
emulator's OAuth endpoints and of its credentials."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx

from smugfs.testing.emulator import Emulator, OAuth1Auth

OAUTH = "/services/oauth/1.0a"


def consumer(emu: Emulator) -> tuple[str, str]:
    """The application key and secret."""
    return emu.env["SMUGFS_API_KEY"], emu.env["SMUGFS_API_SECRET"]


def request_token(emu: Emulator, callback: str = "oob") -> dict[str, str]:
    """Step 1: a request token (form-encoded reply)."""
    auth = OAuth1Auth(*consumer(emu), redirect_uri=callback)
    response = httpx.post(emu.base_url + f"{OAUTH}/getRequestToken", auth=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-www-form-urlencoded")
    return dict(parse_qsl(response.text))


def authorize_json(emu: Emulator, token: str, **grant: str) -> httpx.Response:
    """Step 2, asking for JSON."""
    return httpx.get(
        emu.base_url + f"{OAUTH}/authorize",
        params={"oauth_token": token, **grant},
        headers={"Accept": "application/json"},
    )


def access_token(emu: Emulator, token: dict[str, str], verifier: str) -> httpx.Response:
    """Step 3: exchange the verified request token."""
    auth = OAuth1Auth(
        *consumer(emu),
        token=token["oauth_token"],
        token_secret=token["oauth_token_secret"],
        verifier=verifier,
    )
    return httpx.post(emu.base_url + f"{OAUTH}/getAccessToken", auth=auth)
