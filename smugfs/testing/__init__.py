"""Support for the test suite and the benchmarks: smugfs and its emulator run as a user runs them.

Nothing in the product imports this package (tests/test_import_graph.py keeps it so). Its modules,
one job each:

- `emulator`: the emulator as its own process on loopback, and clients that sign with authlib's
  OAuth 1.0a core (an independent speaker of the protocol, never the smugfs client).
- `mounts`: `smugfs mount` as a process on a real FUSE mountpoint, always unmounted.
- `account`: an emulator account read and changed through its own API, and its request counts.
- `library`: the tree a mount should show, walked through the API; list paging.
- `media`: photo bytes and the files holding them.
- `core`: the filesystem core run in the caller's trio loop, without FUSE.
- `commands`: the smugfs command line and real tools as child processes.
- `waits`: bounded polling for a condition.
- `random_ops`: a seeded random-operation checker of one file, in the manner of fsx.
- `desktop`: a virtual screen and session bus for real file managers.
- `oauth_steps`: the three steps of the OAuth 1.0a login.
- `recorded`: the real service's recorded responses.
"""
