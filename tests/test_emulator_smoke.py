"""The emulator starts as a process, writes its env file and answers a signed request."""

from __future__ import annotations

from smugfs.testing.emulator import Emulator


def test_env_file_names_a_loopback_endpoint_and_credentials(emulator: Emulator) -> None:
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert emulator.upload_url == emulator.base_url + "/upload"
    for name in (
        "SMUGFS_API_KEY",
        "SMUGFS_API_SECRET",
        "SMUGFS_ACCESS_TOKEN",
        "SMUGFS_ACCESS_TOKEN_SECRET",
    ):
        assert emulator.env[name]


def test_new_data_directory_holds_one_user_with_an_empty_root(emulator: Emulator) -> None:
    with emulator.client() as c:
        user = c.get("/api/v2!authuser").json()["Response"]["User"]
        root = user["Uris"]["Node"]["Uri"]
        children = c.get(root + "!children").json()["Response"]
    assert "Node" not in children
    assert children["Pages"]["Total"] == 0
