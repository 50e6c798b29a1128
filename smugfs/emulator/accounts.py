"""Accounts and their credentials in the emulated store: users (each with an empty root
folder), registered API keys, access tokens and album templates."""

from __future__ import annotations

import time
from typing import Any

from smugfs.emulator import naming
from smugfs.emulator.model import FOLDER, AlbumTemplate, ApiKey, Node, Token, User
from smugfs.emulator.refusals import ServiceError
from smugfs.emulator.tables import Tables


class Accounts(Tables):
    """Creates users, API keys, access tokens and album templates."""

    def create_user(self, nick: str, name: str, *, password: str = "") -> User:
        """A new account with an empty root folder."""
        if nick in self.users:
            raise ServiceError(409, f"User {nick} exists")
        stamp = naming.iso(naming.now())
        root = Node(
            node_id=self.new_key(naming.NODE_ID_LENGTH, self.nodes),
            type=FOLDER,
            name="",
            url_name="",
            owner=nick,
            parent_id=None,
            date_added=stamp,
            date_modified=stamp,
            privacy="Public",
        )
        self.nodes[root.node_id] = root
        first, _, last = name.partition(" ")
        user = User(nick, name, root.node_id, first, last, password)
        self.users[nick] = user
        self.dirty = True
        return user

    def create_api_key(self, name: str = "smugfs") -> ApiKey:
        """A newly registered application key."""
        key = ApiKey(self.new_credential(32, self.api_keys), self.new_secret(), name)
        self.api_keys[key.key] = key
        self.dirty = True
        return key

    def issue_token(self, api_key: str, kind: str, **fields: Any) -> Token:
        """A new token of `kind` (`request` or `access`) through application `api_key`, with
        fresh credentials (`fields`: the other fields of `Token`)."""
        token = Token(
            token=self.new_credential(32, self.tokens),
            secret=self.new_secret(),
            api_key=api_key,
            kind=kind,
            created=time.time(),
            **fields,
        )
        self.tokens[token.token] = token
        return token

    def create_access_token(
        self, api_key: str, nick: str, *, access: str = "Full", permissions: str = "Modify"
    ) -> Token:
        """An access token for `nick` through application `api_key`."""
        token = self.issue_token(
            api_key, "access", nick=nick, access=access, permissions=permissions
        )
        self.dirty = True
        return token

    def create_album_template(self, owner: str, name: str, **settings: Any) -> AlbumTemplate:
        """A new album template of `owner` (`settings`: the fields of `AlbumTemplate`)."""
        template = AlbumTemplate(
            self.new_key(naming.ALBUM_KEY_LENGTH, self.album_templates), owner, name, **settings
        )
        self.album_templates[template.key] = template
        self.dirty = True
        return template
