"""smugfs: a SmugMug photo account mounted as a filesystem.

Layers, each importing only those below it:

    cli -> mount -> fuse_ops -> fs -> {tree, cache, reader, uploader} -> api -> auth

`emulator/` is an independent SmugMug API v2 emulator (the demo library and the ground every
test stands on); it never imports the client side.
"""

__version__ = "0.1.0"
