"""smugfs: a SmugMug photo account mounted as a filesystem.

Layers, each importing only those below it:

    cli -> mount -> fuse_ops -> descriptions -> fs;  mount -> core -> {fs, recovery}
    fs -> {changes, reader, thumbnails} -> listings -> {tree, names, kept_times}
        reader -> cache_store -> cached_file;  changes -> {staging, upload_queue}
        cli -> {sync, thumbnails.command} -> progress
    changes: facade -> {directories, writes, file_moves} -> uploads -> settling -> context
        -> {journal, parking};  tree -> staging (only the type of `Entry.local`)
    (all of these) -> api -> config -> thumbnails.flavours;  cli -> login -> api.oauth

`api/` is the HTTP layer, the only importer of httpx, httpcore and authlib (nothing of them
leaves it):

    client -> {paging, writes, media, upload} -> transport -> {retry, wire, signing}
    oauth -> signing

`emulator/` is an independent SmugMug API v2 emulator (the demo library and the ground every
test stands on); it never imports the client side.
"""

__version__ = "0.1.0"
