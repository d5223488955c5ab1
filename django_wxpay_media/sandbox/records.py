"""What the sandbox remembers: every request it received and every upload it accepted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["Headers", "ReceivedRequest", "UploadedImage"]


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping that keeps the original names.

    ``headers["authorization"]`` and ``headers["Authorization"]`` are the same; a
    repeated header keeps its first value in the mapping and all of them in
    :meth:`get_all`. Iteration yields the names as they were sent.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(str(k), str(v)) for k, v in items]
        self._first: dict[str, tuple[str, str]] = {}
        for name, value in self._items:
            self._first.setdefault(name.lower(), (name, value))

    def __getitem__(self, name: str) -> str:
        return self._first[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._first.values())

    def __len__(self) -> int:
        return len(self._first)

    def get_all(self, name: str) -> list[str]:
        """Every value sent for ``name`` (case-insensitive), in order."""
        key = name.lower()
        return [value for n, value in self._items if n.lower() == key]

    def raw_items(self) -> list[tuple[str, str]]:
        """All ``(name, value)`` pairs as sent, repeats included."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass
class ReceivedRequest:
    """One HTTP request that reached the sandbox, and what it was answered.

    ``response_status`` is ``None`` when the connection was dropped without an
    answer; ``response_code`` is WeChat's error code (``"SIGN_ERROR"`` …) or ``None``
    for a success. ``fault`` names the injected fault applied, if any; ``notes`` say
    how the sandbox read a request it accepted although it deviates from the standard.
    """

    method: str
    path: str
    headers: Headers
    body: bytes = field(repr=False)
    response_status: int | None = None
    response_code: str | None = None
    response_message: str | None = None
    response_headers: Headers = field(default_factory=Headers, repr=False)
    response_body: bytes = field(default=b"", repr=False)
    request_id: str | None = None
    fault: str | None = None
    #: The client's TCP port: one port for several requests means keep-alive.
    client_port: int | None = None
    notes: tuple[str, ...] = ()
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC), repr=False)

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header as sent, or ``None``."""
        return self.headers.get("Authorization")


@dataclass
class UploadedImage:
    """One accepted upload: the bytes WeChat Pay would now hold, and the id it issued."""

    filename: str
    sha256: str
    data: bytes = field(repr=False)
    meta_text: str
    media_id: str
    headers: Headers = field(repr=False)
    file_content_type: str | None = None
    request_id: str | None = None

    @property
    def size(self) -> int:
        """Number of bytes in the file part."""
        return len(self.data)
