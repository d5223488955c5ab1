"""Storages for tests: what a private storage looks like to the app."""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage


class NoURLStorage(FileSystemStorage):
    """A private storage: files can be opened, but it has no URLs at all (like S3 without public access)."""

    def url(self, name: str | None) -> str:
        raise NotImplementedError("this storage is private: it has no URLs")
