"""Thumbnails for file managers, made from the service's renditions instead of the originals.

`freedesktop` is the Thumbnail Managing Standard's cache (names, PNG keys, atomic writes);
`renditions` picks which of an image's renditions a thumbnail is scaled from; `thumbnailer`
decides which albums get thumbnails (those a person opens or is about to open, `attention`
telling browsing from a walk) and `maker` fetches, scales and writes them; `requests` and
`command` are `smugfs thumbnails PATH...`, the mount's side and the command's.
"""
