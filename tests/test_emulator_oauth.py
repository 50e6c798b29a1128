"""OAuth 1.0a as the emulator checks it: signatures, nonces, timestamps, where the parameters
may travel, and the three-step login flow (`oob` six-digit verifier or a callback redirect)
with the `Access`/`Permissions` grant the user gave.

Besides authlib's signer the module carries a small RFC 5849 HMAC-SHA1 signer of its own, so
that timestamps, nonces and the exact URL signed can be chosen by the test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import httpx
import pytest

from smugfs.testing.emulator import Emulator, OAuth1Auth
from smugfs.testing.oauth_steps import OAUTH, access_token, authorize_json, consumer, request_token

# ---------------------------------------------------------------------------------- signing


def enc(value: str) -> str:
    """RFC 3986 percent-encoding as OAuth 1.0a uses it."""
    return quote(value, safe="~-._")


def sign(
    method: str,
    base_url: str,
    *,
    consumer: tuple[str, str],
    token: tuple[str, str] | None = None,
    params: Sequence[tuple[str, str]] = (),
    timestamp: int | None = None,
    nonce: str | None = None,
    extra_oauth: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """The `oauth_*` parameters (signature included) for a request.

    `base_url` is signed exactly as given (scheme, host and the path as sent); `params` are the
    query and form parameters, decoded.
    """
    oauth = [
        ("oauth_consumer_key", consumer[0]),
        ("oauth_nonce", nonce or secrets.token_hex(12)),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", str(int(time.time()) if timestamp is None else timestamp)),
        ("oauth_version", "1.0"),
        *extra_oauth,
    ]
    if token:
        oauth.append(("oauth_token", token[0]))
    pairs = sorted((enc(k), enc(v)) for k, v in [*oauth, *params])
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    base_string = "&".join([method.upper(), enc(base_url), enc(normalized)])
    key = f"{enc(consumer[1])}&{enc(token[1] if token else '')}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha1).digest()
    return [*oauth, ("oauth_signature", base64.b64encode(digest).decode())]


def header(oauth: Sequence[tuple[str, str]]) -> str:
    """An `Authorization: OAuth ...` header value."""
    return "OAuth " + ", ".join(f'{enc(k)}="{enc(v)}"' for k, v in oauth)


def access(emu: Emulator) -> tuple[str, str]:
    """The first user's access token and secret."""
    return emu.env["SMUGFS_ACCESS_TOKEN"], emu.env["SMUGFS_ACCESS_TOKEN_SECRET"]


def get_signed(
    emu: Emulator,
    path: str,
    *,
    query: Sequence[tuple[str, str]] = (),
    raw_query: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """GET `path` (sent and signed verbatim) with an `Authorization` header from `sign`."""
    oauth = sign("GET", emu.base_url + path, params=query, **kwargs)
    target = emu.base_url + path
    if raw_query is not None:
        target += "?" + raw_query
    elif query:
        target += "?" + "&".join(f"{enc(k)}={enc(v)}" for k, v in query)
    return httpx.get(
        target,
        headers={"Authorization": header(oauth), "Accept": "application/json"},
        timeout=30,
    )


def problem(response: httpx.Response) -> str:
    """The `oauth_problem` a refusal names (from the JSON Message or a plain-text body)."""
    try:
        text = str(response.json()["Message"])
    except ValueError:
        text = response.text
    found = re.search(r"oauth_problem=([a-z_]+)", text)
    assert found, text
    return found.group(1)


# ------------------------------------------------------------------------- signature checks


def test_own_signer_is_accepted(module_emulator: Emulator) -> None:
    response = get_signed(
        module_emulator,
        "/api/v2!authuser",
        consumer=consumer(module_emulator),
        token=access(module_emulator),
    )
    assert response.status_code == 200
    assert response.json()["Response"]["User"]["ResponseLevel"] == "Full"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("consumer_secret", "signature_invalid"),
        ("token_secret", "signature_invalid"),
        ("token", "token_rejected"),
        ("consumer_key", "consumer_key_unknown"),
    ],
)
def test_wrong_credentials_are_401_with_the_oauth_problem(
    module_emulator: Emulator, change: str, expected: str
) -> None:
    key, secret = consumer(module_emulator)
    token, token_secret = access(module_emulator)
    if change == "consumer_secret":
        secret = "0" * 32
    elif change == "token_secret":
        token_secret = "0" * 32
    elif change == "token":
        token = "NoSuchToken"
    else:
        key = "NoSuchKey"
    response = get_signed(
        module_emulator, "/api/v2!authuser", consumer=(key, secret), token=(token, token_secret)
    )
    assert response.status_code == 401
    body = response.json()
    assert body["Code"] == 401
    assert "User" not in body["Response"]
    assert problem(response) == expected


def test_tampered_signature_is_401_signature_invalid(module_emulator: Emulator) -> None:
    oauth = dict(
        sign(
            "GET",
            module_emulator.base_url + "/api/v2!authuser",
            consumer=consumer(module_emulator),
            token=access(module_emulator),
        )
    )
    signature = base64.b64decode(oauth["oauth_signature"])
    oauth["oauth_signature"] = base64.b64encode(bytes([signature[0] ^ 1]) + signature[1:]).decode()
    response = httpx.get(
        module_emulator.base_url + "/api/v2!authuser",
        headers={"Authorization": header(list(oauth.items())), "Accept": "application/json"},
    )
    assert response.status_code == 401
    assert problem(response) == "signature_invalid"


def test_signature_over_other_query_parameters_is_refused(module_emulator: Emulator) -> None:
    oauth = sign(
        "GET",
        module_emulator.base_url + "/api/v2!authuser",
        consumer=consumer(module_emulator),
        token=access(module_emulator),
        params=[("_verbosity", "1")],
    )
    response = httpx.get(
        module_emulator.base_url + "/api/v2!authuser?_verbosity=3",
        headers={"Authorization": header(oauth), "Accept": "application/json"},
    )
    assert response.status_code == 401
    assert problem(response) == "signature_invalid"


def test_replayed_nonce_is_401_nonce_used(module_emulator: Emulator) -> None:
    with httpx.Client(headers={"Accept": "application/json"}) as client:
        request = client.build_request("GET", module_emulator.base_url + "/api/v2!authuser")
        signed = next(module_emulator.auth().auth_flow(request))
        first = client.send(signed)
        again = client.send(signed)
    assert first.status_code == 200
    assert again.status_code == 401
    assert problem(again) == "nonce_used"


def test_same_nonce_with_a_new_timestamp_is_fine(module_emulator: Emulator) -> None:
    nonce = secrets.token_hex(8)
    now = int(time.time())
    for stamp in (now - 2, now - 1):
        response = get_signed(
            module_emulator,
            "/api/v2!authuser",
            consumer=consumer(module_emulator),
            token=access(module_emulator),
            nonce=nonce,
            timestamp=stamp,
        )
        assert response.status_code == 200


@pytest.mark.parametrize("offset", [-3600, 3600])
def test_stale_or_future_timestamp_is_401(module_emulator: Emulator, offset: int) -> None:
    response = get_signed(
        module_emulator,
        "/api/v2!authuser",
        consumer=consumer(module_emulator),
        token=access(module_emulator),
        timestamp=int(time.time()) + offset,
    )
    assert response.status_code == 401
    assert problem(response) == "timestamp_refused"


def test_request_without_any_credentials_is_401(module_emulator: Emulator) -> None:
    response = httpx.get(
        module_emulator.base_url + "/api/v2!authuser", headers={"Accept": "application/json"}
    )
    assert response.status_code == 401
    assert "oauth_problem=" in response.json()["Message"]


def test_missing_signature_is_401_parameter_absent(module_emulator: Emulator) -> None:
    oauth = [
        p
        for p in sign(
            "GET",
            module_emulator.base_url + "/api/v2!authuser",
            consumer=consumer(module_emulator),
            token=access(module_emulator),
        )
        if p[0] != "oauth_signature"
    ]
    response = httpx.get(
        module_emulator.base_url + "/api/v2!authuser",
        headers={"Authorization": header(oauth), "Accept": "application/json"},
    )
    assert response.status_code == 401
    assert problem(response) == "parameter_absent"


# -------------------------------------------------------------------- the signed base URL


def test_base_url_is_rebuilt_from_the_host_header(module_emulator: Emulator) -> None:
    port = urlsplit(module_emulator.base_url).port
    # Signed for the host the client believes it talks to, sent to the loopback socket.
    oauth = sign(
        "GET",
        "http://api.smugmug.com/api/v2!authuser",
        consumer=consumer(module_emulator),
        token=access(module_emulator),
    )
    response = httpx.get(
        f"http://127.0.0.1:{port}/api/v2!authuser",
        headers={
            "Authorization": header(oauth),
            "Accept": "application/json",
            "Host": "api.smugmug.com",
        },
    )
    assert response.status_code == 200
    # The same signature does not hold for the address the socket really has.
    oauth = sign(
        "GET",
        "http://api.smugmug.com/api/v2!authuser",
        consumer=consumer(module_emulator),
        token=access(module_emulator),
    )
    response = httpx.get(
        f"http://127.0.0.1:{port}/api/v2!authuser",
        headers={"Authorization": header(oauth), "Accept": "application/json"},
    )
    assert response.status_code == 401
    assert problem(response) == "signature_invalid"


def test_base_url_uses_the_raw_percent_encoded_path(module_emulator: Emulator) -> None:
    nick = module_emulator.env.get("SMUGFS_USER", "me")
    encoded = "/api/v2/user/" + "".join(f"%{ord(ch):02X}" for ch in nick)
    response = get_signed(
        module_emulator, encoded, consumer=consumer(module_emulator), token=access(module_emulator)
    )
    assert response.status_code == 200, response.text
    assert response.json()["Response"]["User"]["NickName"] == nick
    # Signing the decoded path instead does not match what was sent.
    oauth = sign(
        "GET",
        module_emulator.base_url + "/api/v2/user/" + nick,
        consumer=consumer(module_emulator),
        token=access(module_emulator),
    )
    response = httpx.get(
        module_emulator.base_url + encoded,
        headers={"Authorization": header(oauth), "Accept": "application/json"},
    )
    assert response.status_code == 401


def test_percent_encoded_query_parameters_are_signed_decoded(module_emulator: Emulator) -> None:
    with module_emulator.client() as c:
        root = c.get("/api/v2!authuser").json()["Response"]["User"]["Uris"]["Node"]["Uri"]
        made = c.post(root + "!children", json={"Name": "Query Album", "Type": "Album"})
        key = made.json()["Response"]["Node"]["Uris"]["Album"]["Uri"].rsplit("/", 1)[1]
    query = [("FileNames", "a photo.jpg,b&c.jpg"), ("count", "5")]
    raw = "FileNames=a%20photo.jpg%2Cb%26c.jpg&count=5"
    response = get_signed(
        module_emulator,
        f"/api/v2/album/{key}!images",
        query=query,
        raw_query=raw,
        consumer=consumer(module_emulator),
        token=access(module_emulator),
    )
    assert response.status_code == 200, response.text
    assert response.json()["Response"]["Pages"]["RequestedCount"] == 5


def test_oauth_parameters_in_the_query_string_work(module_emulator: Emulator) -> None:
    auth = OAuth1Auth(
        *consumer(module_emulator),
        token=access(module_emulator)[0],
        token_secret=access(module_emulator)[1],
        signature_type="QUERY",
    )
    with httpx.Client(base_url=module_emulator.base_url, auth=auth) as c:
        request = c.build_request("GET", "/api/v2!authuser", headers={"Accept": "application/json"})
        response = c.send(request)
    assert "oauth_signature=" in str(response.request.url)
    assert "authorization" not in response.request.headers
    assert response.status_code == 200
    assert response.json()["Response"]["User"]["ResponseLevel"] == "Full"


def test_oauth_parameters_in_a_form_body_work(module_emulator: Emulator) -> None:
    auth = OAuth1Auth(
        *consumer(module_emulator),
        token=access(module_emulator)[0],
        token_secret=access(module_emulator)[1],
        signature_type="BODY",
    )
    with module_emulator.client() as c:
        root = c.get("/api/v2!authuser").json()["Response"]["User"]["Uris"]["Node"]["Uri"]
    with httpx.Client(base_url=module_emulator.base_url, auth=auth) as c:
        response = c.post(
            root + "!children",
            data={"Name": "Body Signed", "Type": "Folder"},
            headers={"Accept": "application/json"},
        )
    assert response.status_code == 201, response.text
    assert response.json()["Response"]["Node"]["Name"] == "Body Signed"


def test_api_key_alone_reads_public_nodes_only(module_emulator: Emulator) -> None:
    with module_emulator.client() as c:
        root = c.get("/api/v2!authuser").json()["Response"]["User"]["Uris"]["Node"]["Uri"]
        public = c.post(root + "!children", json={"Name": "Open", "Privacy": "Public"})
        private = c.post(root + "!children", json={"Name": "Closed", "Privacy": "Private"})
    key = consumer(module_emulator)[0]
    with module_emulator.plain() as anon:
        headers = {"Accept": "application/json"}
        pub = public.json()["Response"]["Node"]["Uri"]
        got = anon.get(pub, params={"APIKey": key}, headers=headers)
        assert got.status_code == 200
        node = got.json()["Response"]["Node"]
        assert node["ResponseLevel"] == "Public"
        assert "Privacy" not in node
        priv = private.json()["Response"]["Node"]["Uri"]
        assert anon.get(priv, params={"APIKey": key}, headers=headers).status_code in (401, 404)
        write = anon.patch(pub, params={"APIKey": key}, json={"Name": "X"}, headers=headers)
        assert write.status_code == 401
        assert anon.get(pub, params={"APIKey": "bogus"}, headers=headers).status_code == 401


# ------------------------------------------------------------------------------- login flow


def test_oob_login_flow_end_to_end(module_emulator: Emulator) -> None:
    token = request_token(module_emulator)
    assert token["oauth_callback_confirmed"] == "true"
    assert token["oauth_token"]
    assert token["oauth_token_secret"]
    page = httpx.get(
        module_emulator.base_url + f"{OAUTH}/authorize",
        params={"oauth_token": token["oauth_token"], "Access": "Full", "Permissions": "Modify"},
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    found = re.search(r'id="verifier"[^>]*>\s*(\d+)\s*<', page.text)
    assert found, page.text
    verifier = found.group(1)
    assert re.fullmatch(r"\d{6}", verifier)
    response = access_token(module_emulator, token, verifier)
    assert response.status_code == 200, response.text
    granted = dict(parse_qsl(response.text))
    assert set(granted) >= {"oauth_token", "oauth_token_secret"}
    with module_emulator.client(
        token=granted["oauth_token"], token_secret=granted["oauth_token_secret"]
    ) as c:
        user = c.get("/api/v2!authuser")
        assert user.status_code == 200
        assert user.json()["Response"]["User"]["ResponseLevel"] == "Full"
        root = user.json()["Response"]["User"]["Uris"]["Node"]["Uri"]
        made = c.post(root + "!children", json={"Name": "Via Login", "Type": "Folder"})
        assert made.status_code == 201


def test_authorize_answers_the_verifier_as_json_when_asked(module_emulator: Emulator) -> None:
    token = request_token(module_emulator)
    response = authorize_json(
        module_emulator, token["oauth_token"], Access="Full", Permissions="Read"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["oauth_token"] == token["oauth_token"]
    assert re.fullmatch(r"\d{6}", body["oauth_verifier"])


def test_callback_login_flow_redirects_with_token_and_verifier(module_emulator: Emulator) -> None:
    callback = "http://localhost:8123/callback"
    # The way smugcli asks: GET with the OAuth parameters in the query string.
    auth = OAuth1Auth(*consumer(module_emulator), redirect_uri=callback, signature_type="QUERY")
    reply = httpx.get(module_emulator.base_url + f"{OAUTH}/getRequestToken", auth=auth)
    assert reply.status_code == 200, reply.text
    token = dict(parse_qsl(reply.text))
    assert token["oauth_callback_confirmed"] == "true"
    response = httpx.get(
        module_emulator.base_url + f"{OAUTH}/authorize",
        params={"oauth_token": token["oauth_token"], "Access": "Full", "Permissions": "Modify"},
        follow_redirects=False,
    )
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(callback + "?")
    sent = parse_qs(urlsplit(location).query)
    assert sent["oauth_token"] == [token["oauth_token"]]
    verifier = sent["oauth_verifier"][0]
    # smugcli exchanges the token with a GET too, OAuth parameters in the query string.
    exchange = OAuth1Auth(
        *consumer(module_emulator),
        token=token["oauth_token"],
        token_secret=token["oauth_token_secret"],
        verifier=verifier,
        signature_type="QUERY",
    )
    granted = httpx.get(module_emulator.base_url + f"{OAUTH}/getAccessToken", auth=exchange)
    assert granted.status_code == 200, granted.text
    access_pair = dict(parse_qsl(granted.text))
    with module_emulator.client(
        token=access_pair["oauth_token"], token_secret=access_pair["oauth_token_secret"]
    ) as c:
        assert c.get("/api/v2!authuser").status_code == 200


def test_wrong_verifier_is_refused(module_emulator: Emulator) -> None:
    token = request_token(module_emulator)
    verifier = authorize_json(module_emulator, token["oauth_token"], Access="Full").json()[
        "oauth_verifier"
    ]
    wrong = f"{(int(verifier) + 1) % 1_000_000:06d}"
    response = access_token(module_emulator, token, wrong)
    assert response.status_code == 401
    assert "oauth_token=" not in response.text
    assert "oauth_problem=" in response.text


def test_request_token_is_single_use(module_emulator: Emulator) -> None:
    token = request_token(module_emulator)
    verifier = authorize_json(module_emulator, token["oauth_token"], Access="Full").json()[
        "oauth_verifier"
    ]
    assert access_token(module_emulator, token, verifier).status_code == 200
    again = access_token(module_emulator, token, verifier)
    assert again.status_code == 401
    assert "oauth_token=" not in again.text


def test_unverified_request_token_cannot_be_exchanged(module_emulator: Emulator) -> None:
    token = request_token(module_emulator)
    response = access_token(module_emulator, token, "123456")
    assert response.status_code == 401


def test_request_token_is_not_an_access_token(module_emulator: Emulator) -> None:
    token = request_token(module_emulator)
    authorize_json(module_emulator, token["oauth_token"], Access="Full", Permissions="Modify")
    with module_emulator.client(
        token=token["oauth_token"], token_secret=token["oauth_token_secret"]
    ) as c:
        response = c.get("/api/v2!authuser")
    assert response.status_code == 401
    assert problem(response) == "token_rejected"


def test_request_token_without_oauth_callback_is_parameter_absent(
    module_emulator: Emulator,
) -> None:
    response = httpx.post(
        module_emulator.base_url + f"{OAUTH}/getRequestToken",
        auth=module_emulator.auth(anonymous=True),
    )
    assert response.status_code == 401
    assert problem(response) == "parameter_absent"
    assert "oauth_token=" not in response.text


def test_request_token_needs_a_valid_consumer_signature(module_emulator: Emulator) -> None:
    auth = OAuth1Auth(consumer(module_emulator)[0], "wrong-secret", redirect_uri="oob")
    response = httpx.post(module_emulator.base_url + f"{OAUTH}/getRequestToken", auth=auth)
    assert response.status_code == 401
    assert problem(response) == "signature_invalid"


def test_authorize_with_an_unknown_token_is_refused(module_emulator: Emulator) -> None:
    response = authorize_json(module_emulator, "NoSuchRequestToken", Access="Full")
    assert response.status_code in (400, 401)
    assert "oauth_verifier" not in response.text


def login(emu: Emulator, **grant: str) -> tuple[str, str]:
    """The whole oob flow with the grant given; the access token and secret."""
    token = request_token(emu)
    verifier = authorize_json(emu, token["oauth_token"], **grant).json()["oauth_verifier"]
    response = access_token(emu, token, verifier)
    assert response.status_code == 200
    granted = dict(parse_qsl(response.text))
    return granted["oauth_token"], granted["oauth_token_secret"]


def test_authorize_for_a_named_user_gives_that_users_token(module_emulator: Emulator) -> None:
    with module_emulator.plain() as plain:
        assert plain.post("/emulator/users", json={"nick": "bob"}).status_code == 201
    token, secret = login(module_emulator, Access="Full", Permissions="Modify", username="bob")
    with module_emulator.client(token=token, token_secret=secret) as c:
        user = c.get("/api/v2!authuser").json()["Response"]["User"]
    assert user["NickName"] == "bob"
    assert user["ResponseLevel"] == "Full"


def test_public_access_grant_cannot_see_private_albums(module_emulator: Emulator) -> None:
    with module_emulator.client() as c:
        root = c.get("/api/v2!authuser").json()["Response"]["User"]["Uris"]["Node"]["Uri"]
        hidden = c.post(
            root + "!children", json={"Name": "Secret", "Type": "Album", "Privacy": "Private"}
        ).json()["Response"]["Node"]
        shown = c.post(
            root + "!children", json={"Name": "Shown", "Type": "Album", "Privacy": "Public"}
        ).json()["Response"]["Node"]
    token, secret = login(module_emulator, Access="Public", Permissions="Read")
    with module_emulator.client(token=token, token_secret=secret) as c:
        assert c.get(hidden["Uri"]).status_code in (401, 403, 404)
        hidden_key = hidden["Uris"]["Album"]["Uri"]
        assert c.get(hidden_key).status_code in (401, 403, 404)
        assert c.get(hidden_key + "!images").status_code in (401, 403, 404)
        listing = c.get(root + "!children", params={"count": 200}).json()["Response"]
        ids = [n["NodeID"] for n in listing.get("Node", [])]
        assert hidden["NodeID"] not in ids
        assert shown["NodeID"] in ids
        public_node = c.get(shown["Uri"]).json()["Response"]["Node"]
        assert public_node["ResponseLevel"] == "Public"


def test_default_grant_is_public_read(module_emulator: Emulator) -> None:
    token, secret = login(module_emulator)
    with module_emulator.client(token=token, token_secret=secret) as c:
        root = c.get("/api/v2!authuser")
        assert root.status_code == 200
        root_uri = root.json()["Response"]["User"]["Uris"]["Node"]["Uri"]
        response = c.post(root_uri + "!children", json={"Name": "Nope"})
    assert response.status_code == 401


def test_full_read_grant_sees_private_albums_but_cannot_write(module_emulator: Emulator) -> None:
    with module_emulator.client() as c:
        root = c.get("/api/v2!authuser").json()["Response"]["User"]["Uris"]["Node"]["Uri"]
        hidden = c.post(
            root + "!children", json={"Name": "Secret Two", "Type": "Album", "Privacy": "Private"}
        ).json()["Response"]["Node"]
    token, secret = login(module_emulator, Access="Full", Permissions="Read")
    with module_emulator.client(token=token, token_secret=secret) as c:
        assert c.get(hidden["Uri"]).status_code == 200
        response = c.patch(hidden["Uri"], json={"Name": "Changed"})
        assert response.status_code == 401
        assert response.json()["Message"] == "The user has not granted the required permissions"
