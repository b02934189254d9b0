"""Reciprocity's core: immutable events, the event log, and the commands that record them.

Nothing here knows about views, sync or HTTP; `core.store` is the only module that
touches storage.
"""
