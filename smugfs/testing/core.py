"""The filesystem core run in the test's own trio loop, without FUSE.

`running_core` builds the core exactly as a mount does (`smugfs.core.Core`), starts it against
an emulator process on loopback and runs its background work in a nursery of the test, so a
test calls lookup, list, read, mkdir, rename... directly and checks the service's state through
the emulator's own API afterwards. The helpers walk paths and read and write whole files the way
the kernel would, through the core's calls only.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import trio

from smugfs import config
from smugfs.config import Settings
from smugfs.core import Core
from smugfs.errors import first_error
from smugfs.fs import Filesystem
from smugfs.listings import Attributes
from smugfs.testing.emulator import Emulator
from smugfs.tree import ROOT_INODE

T = TypeVar("T")

# About what the kernel asks for at a time.
KERNEL_READ = 128 * 1024


def core_settings(emulator: Emulator, cache_dir: Path, **options: str | None) -> Settings:
    """Settings for the emulator's first user, as `smugfs mount -o ...` would make them from
    its variables; thumbnails off (they need a mountpoint)."""
    return config.from_environment(
        emulator.env, {"cache_dir": str(cache_dir), "thumbnails": "off", **options}
    )


@contextlib.asynccontextmanager
async def running_core(settings: Settings) -> AsyncIterator[Core]:
    """A started core with its background work running, closed on the way out (also when the
    test fails). An error of the test comes out as itself, not inside an exception group."""
    core = await Core.open(settings)
    try:
        await core.fs.start()
        with first_error():
            async with trio.open_nursery() as nursery:
                core.attach(nursery)
                yield core
                nursery.cancel_scope.cancel()
    finally:
        await core.close()


async def on_service(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call to the emulator's API (a signed httpx client) off the trio loop."""
    return await trio.to_thread.run_sync(functools.partial(call, *args, **kwargs))


async def resolve(fs: Filesystem, path: str) -> Attributes:
    """Look a path up name by name from the root, as the kernel does."""
    attrs = await fs.getattr(ROOT_INODE)
    for name in filter(None, path.split("/")):
        attrs = await fs.lookup(attrs.inode, name)
    return attrs


async def names(fs: Filesystem, path: str) -> list[str]:
    """The names a directory lists, in listing order."""
    return [name for name, _ in await fs.list_dir((await resolve(fs, path)).inode)]


async def read_all(fs: Filesystem, inode: int, chunk: int = KERNEL_READ) -> bytes:
    """A file's bytes, read front to back in kernel-sized reads through one open handle."""
    handle = await fs.open(inode)
    try:
        parts: list[bytes] = []
        offset = 0
        while True:
            data = await fs.read(handle, offset, chunk)
            if not data:
                return b"".join(parts)
            parts.append(bytes(data))
            offset += len(data)
    finally:
        await fs.release(handle)


async def write_file(fs: Filesystem, parent: int, name: str, data: bytes) -> int:
    """Create a file in a directory, write it in kernel-sized writes and close it (close
    returns once the service confirmed the upload); its inode."""
    entry = await fs.changes.create(parent, name)
    handle = await fs.open(entry.inode, write=True)
    try:
        for offset in range(0, len(data), KERNEL_READ):
            await fs.write(handle, offset, data[offset : offset + KERNEL_READ])
        await fs.flush(handle)
    finally:
        await fs.release(handle)
    return entry.inode
