"""Which links from WeChat Pay's answers the desk shows as links.

History entries carry image links (``image_list``) that are rendered for staff.
Only a plain ``https://host/…`` address becomes a link, and the page names its
host; anything else (``javascript:``, ``data:``, ``http:``, user info, a
backslash, whitespace or control characters a browser would read differently) is
shown as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Link:
    """One address as the page shows it: a link to ``host`` (with its port, if any) when set, else text."""

    url: str
    host: str = ""

    @property
    def is_link(self) -> bool:
        return bool(self.host)


def _plain(url: str) -> bool:
    # No whitespace, control characters or backslashes: browsers drop or reinterpret them.
    return all(0x20 < ord(char) != 0x7F and char != "\\" for char in url)


def shown(url: object) -> Link:
    """How to show ``url``: a link (with its host) only for a plain https address."""
    text = url if isinstance(url, str) else str(url)
    if not _plain(text) or text[:8].lower() != "https://":
        return Link(text)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return Link(text)
    if "@" in parts.netloc or not parts.hostname:
        return Link(text)
    return Link(text, parts.netloc)  # the host (and port) exactly as the link has them
