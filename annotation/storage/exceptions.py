"""Errors of the storage layer. Messages name the endpoint and bucket, never credentials."""

from __future__ import annotations


class StorageError(RuntimeError):
    """A storage operation that failed for a reason other than a missing file."""


class StorageUnavailable(StorageError):
    """The object store did not answer (down, unreachable, or refusing our credentials)."""
