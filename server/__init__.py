"""The sync server: accounts, one event log per owner, the Starlette app.

For programs that need a server without the CLI::

    from server.run import BackgroundServer  # uvicorn on a thread, free port

    server = BackgroundServer(data_dir)
    with server as url:
        owner, enrollment_token = server.service.accounts.add_owner("alice")

or `server.run.serve(ServerConfig(data=...), host, port)` in the foreground (what
`recip serve` runs), or `server.app.create_app(config)` for any ASGI server.
`server.service.SyncService` is the HTTP-independent logic the app calls;
`server.inprocess.LocalTransport` lets a `sync.replica.Replica` call it directly.
"""
