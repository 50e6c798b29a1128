"""A SmugMug API v2 emulator served over real loopback sockets.

It speaks the wire format of the real service (see docs/emulator.md) and never imports the
smugfs client. Layers: `store` (state and rules) <- `endpoints` (what each endpoint is) and
`views` (records on the wire) <- `wire`
(envelope, paging, query conventions) <- `api` / `upload` / `media` / `oauth` (endpoints) <-
`app` (the ASGI application and service conditions) <- `server` (uvicorn on 127.0.0.1).
"""
