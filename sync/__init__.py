"""Device-side sync: the wire protocol, the replica, the HTTP client.

For programs (tests, benchmarks) that sync without the CLI::

    from core.log import EventLog
    from core.store import open_store
    from sync.http import HttpTransport, enroll
    from sync.replica import Replica

    reply = enroll(url, enrollment_token, device_id, "laptop")
    log = EventLog(open_store("laptop.db"), device_id)
    with HttpTransport(url, reply.device_token) as transport:
        summary = Replica(log, transport, reply.owner_id, push_batch=5000,
                          pull_limit=5000).sync()

`protocol` holds the messages and formats (ADR 0030), `replica` the push/pull loop
over any `Transport`, `http` the httpx transport and account calls, `remote` the
device's `remote.json`.
"""
