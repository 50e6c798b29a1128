"""Albums and folders: made, deleted, renamed and moved.

A new directory is an album; one made inside an empty album turns that album into a folder
first (a node cannot change type, so the album is replaced by a folder of the same name).
`rmdir` asks the service afresh whether a directory is empty, because the service deletes a
folder with everything below it and a stale listing must never decide that.
"""

from __future__ import annotations

import logging

from smugfs.api.models import ALBUM, FOLDER, RemoteNode
from smugfs.changes.context import ChangeContext
from smugfs.errors import (
    AlreadyExists,
    NotADirectory,
    NotEmpty,
    NotPermitted,
    SmugfsError,
    TooDeep,
)
from smugfs.listings import Attributes
from smugfs.names import unescape
from smugfs.staging import is_bookkeeping_dir
from smugfs.tree import ROOT_INODE, Entry, node_identity

log = logging.getLogger(__name__)

MAX_FOLDER_DEPTH = 5


class Directories:
    """Makes, deletes, renames and moves albums and folders."""

    def __init__(self, context: ChangeContext) -> None:
        self._context = context

    async def mkdir(self, parent: int, name: str) -> Attributes:
        """A new album (turning an empty parent album into a folder first)."""
        context = self._context
        context.require_writable()
        if is_bookkeeping_dir(name):
            raise NotPermitted(f"{name!r} is a desktop tool's directory; it is not kept")
        children = await context.listings.children_of(parent)
        if name in children:
            raise AlreadyExists(f"{name!r} exists")
        entry = context.table.entry(parent)
        node = context.node(parent)
        if node.is_album:
            if children:
                raise NotPermitted(f"{entry.name!r} is an album with photos: no directories")
            node = await self._album_to_folder(entry)
        created = await context.client.create_node(node, unescape(name), ALBUM)
        new = context.table.add(parent, name, node_identity(created.node_id), node=created)
        context.table.store_listing(new.inode, [])
        context.listings.mark_fresh(new.inode)
        context.listings.note_added(parent, new)
        log.info("created album %r", created.name)
        return context.listings.attributes(new)

    async def _album_to_folder(self, entry: Entry) -> RemoteNode:
        """Replace an empty album by a folder of the same name (a node cannot change type)."""
        context = self._context
        album = entry.node
        assert album is not None
        assert album.album_uri is not None
        if self._folder_depth(entry.inode) > MAX_FOLDER_DEPTH:
            raise TooDeep(f"folders nest at most {MAX_FOLDER_DEPTH} deep")
        if await context.client.image_count(album.album_uri) > 0:
            raise NotPermitted(f"{entry.name!r} is an album with photos: no directories")
        parent = context.node(entry.parent)
        await context.client.delete(album.uri)
        folder = await context.client.create_node(parent, album.name, FOLDER)
        old_identity = entry.identity
        context.table.rebind(entry, node_identity(folder.node_id))
        entry.node = folder
        context.table.store_listing(entry.inode, [])
        context.listings.note_removed(entry.parent, old_identity)
        context.listings.note_added(entry.parent, entry)
        log.info("turned the empty album %r into a folder", folder.name)
        return folder

    def _folder_depth(self, inode: int) -> int:
        """How many folders below the root a directory is (the root is 0)."""
        depth = 0
        while inode != ROOT_INODE:
            inode = self._context.table.entry(inode).parent
            depth += 1
        return depth

    async def rmdir(self, parent: int, name: str) -> None:
        """Delete an empty album or folder; anything in it (on the service, now) refuses."""
        context = self._context
        entry = await context.to_change(parent, name)
        node = entry.node
        if node is None:
            raise NotADirectory(f"{name!r} is not a directory")
        listing = context.table.listing(entry.inode)
        if listing is not None and listing.children:
            raise NotEmpty(f"{name!r} is not empty")
        # Ask the service afresh: it deletes a folder with its whole subtree.
        if node.is_album and node.album_uri is not None:
            if await context.client.image_count(node.album_uri) > 0:
                raise NotEmpty(f"{name!r} still holds photos on the service")
        elif node.is_folder and await context.client.children(node):
            raise NotEmpty(f"{name!r} still holds albums or folders on the service")
        await context.client.delete(node.uri)
        context.listings.note_removed(parent, entry.identity)
        context.table.remove(parent, name)
        log.info("deleted %s %r", node.type.lower(), node.name)

    async def rename(
        self, entry: Entry, new_parent: int, new_name: str, target: Entry | None
    ) -> None:
        """Rename or move the directory `entry` to `new_name` in the folder `new_parent`
        (nothing may be called so there: `target` refuses)."""
        context = self._context
        if target is not None:
            raise AlreadyExists(f"{new_name!r} exists")
        if is_bookkeeping_dir(new_name):
            raise NotPermitted(f"{new_name!r} is a desktop tool's directory")
        node = entry.node
        assert node is not None
        destination = context.node(new_parent)
        if not destination.is_folder:
            raise NotPermitted("albums hold photos, not directories")
        old_parent = entry.parent
        if new_parent != old_parent:
            await context.client.move_nodes(destination, [node])
        if new_name != entry.name:
            remote = unescape(new_name)
            fields: dict[str, str] = {"Name": remote}
            url_name = _url_name(remote)
            if url_name:
                fields["UrlName"] = url_name
            try:
                node = await context.client.patch_node(node, fields)
            except SmugfsError:
                if new_parent != old_parent:
                    # Moved but not renamed (the name is taken there): put it back, so a
                    # refused mv changes nothing.
                    await context.client.move_nodes(context.node(old_parent), [node])
                raise
            entry.node = node
        context.listings.note_removed(old_parent, entry.identity)
        context.table.move(entry, new_parent, new_name)
        context.listings.note_added(new_parent, entry)
        log.info("moved %s %r", node.type.lower(), node.name)


def _url_name(name: str) -> str | None:
    """The UrlName for a renamed node, by the service's rules; None when the service would
    not take one supplied (it must start with a capital letter), so the old one is kept."""
    words = "".join(ch if ch.isascii() and ch.isalnum() else " " for ch in name.replace("'", ""))
    url_name = "-".join(words.split())[:60].rstrip("-")
    if not url_name:
        return None
    url_name = url_name[0].upper() + url_name[1:]
    return url_name if url_name[0].isalpha() else None
