"""Turning decoded items into what a user reads: ndjson records, a JSON document, a ladder table.

Standard library only; each renderer writes to a text stream as items arrive, so output starts at
once and memory does not grow with the capture.
"""
