"""smugfs: a SmugMug photo account mounted as a filesystem.

Layers, each importing only those below it:

    cli -> mount -> fuse_ops -> fs -> {changes, reader} -> listings -> {tree, names, kept_times}
        reader -> cache_store;  changes -> {staging, upload_queue};  mount -> recovery
    (all of these) -> api -> auth -> config

`api/` is the HTTP layer (nothing of httpx or httpcore leaves it):

    client -> {paging, writes, media, upload} -> transport -> {retry, wire}

`emulator/` is an independent SmugMug API v2 emulator (the demo library and the ground every
test stands on); it never imports the client side.
"""

__version__ = "0.1.0"
