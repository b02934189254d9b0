"""Moving a history in and out of Reciprocity.

- `jsonl`: the event log itself, one event per line: the faithful backup, which
  round-trips byte for byte;
- `vcard` and `csv`: contacts from and to address books and spreadsheets, and the
  ledger and going-cold views as CSV;
- `contacts`: what the contact importers share: a contact read from a file, its
  import identity (so that a re-import adds nothing), duplicate detection.

Every importer reads and validates the whole file first and returns events; the
caller appends or ingests them in one transaction, so a refused file leaves the
log exactly as it was. Nothing here touches a terminal: progress is reported
through a callback.
"""
