"""Request checks: the limits WeChat Pay documents, checked before anything is sent.

The length of a text is counted in characters, as WeChat counts it
(:func:`text_length`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from .. import errors
from .types import IMAGE_STYLES, Block, ImageBlock, LinkBlock, TextBlock

#: ``limit`` of one page of the complaint list (1–50).
MAX_LIST_LIMIT = 50
#: ``limit`` of one page of negotiation history (1–300).
MAX_HISTORY_LIMIT = 300
#: The list's ``begin_date``..``end_date`` may span at most this many days.
MAX_WINDOW_DAYS = 30
#: ``response_content`` (the 2025 page; the 2024 page said 200).
MAX_RESPONSE_CONTENT = 500
#: ``response_images`` / ``reject_media_list``.
MAX_IMAGES = 4
MAX_JUMP_URL = 512
MAX_JUMP_URL_TEXT = 10
MAX_REJECT_REASON = 200
MAX_REMARK = 200
MAX_NOTIFICATION_URL = 255
#: The instant-service reply: ``idempotent_id`` is documented (≤ 128); the other caps are
#: ours, WeChat documents none [M]: a message of at most 10 blocks, 4 of them images (as a
#: reply), each text ≤ 500 characters (as a reply), a link's text ≤ 32, its URL ≤ 512.
MAX_IDEMPOTENT_ID = 128
MAX_BLOCKS = 10
MAX_BLOCK_TEXT = 500
MAX_LINK_TEXT = 32

STATES = ("PENDING", "PROCESSING", "PROCESSED")
PROBLEM_TYPES = ("REFUND", "SERVICE_NOT_WORK", "OTHERS")
REFUND_ACTIONS = ("APPROVE", "REJECT")

# Complaint ids are digits in practice; anything that could change the path is refused.
_ID_RE = re.compile(r"\A[0-9A-Za-z_-]{1,64}\Z")  # \Z: "$" would accept a trailing newline
# An idempotent_id is printable ASCII without spaces (a UUID, a hash...), ≤ 128.
_IDEMPOTENT_RE = re.compile(r"\A[0-9A-Za-z_.:-]{1,128}\Z")


class ComplaintRequestError(errors.WeChatPayError, ValueError):
    """A complaint call that WeChat Pay would refuse; raised before anything is sent.

    ``code`` says which rule (e.g. ``CONTENT_TOO_LONG``); ``params`` hold the numbers
    a translated message needs (``limit``, ``length``...).
    """

    code = "INVALID_COMPLAINT_REQUEST"

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.code = code


def text_length(text: str) -> int:
    """The length of ``text`` as WeChat counts it: characters (code points), not bytes."""
    return len(text)


def check_complaint_id(complaint_id: str) -> str:
    """``complaint_id`` if it is one (digits, letters, ``_-``; ≤ 64), else :class:`ComplaintRequestError`."""
    if not isinstance(complaint_id, str) or not _ID_RE.match(complaint_id):
        raise ComplaintRequestError("INVALID_COMPLAINT_ID", f"Not a complaint id: {complaint_id!r}.")
    return complaint_id


def _check_length(code: str, name: str, value: str, limit: int) -> None:
    length = text_length(value)
    if length > limit:
        raise ComplaintRequestError(
            code, f"{name} has {length} characters; WeChat Pay accepts {limit}.", length=length, limit=limit
        )


def _check_media_ids(name: str, media_ids: Sequence[str] | int) -> list[str]:
    # An int counts images not uploaded yet: their media_ids are not known.
    ids = [] if isinstance(media_ids, int) else list(media_ids)
    count = media_ids if isinstance(media_ids, int) else len(ids)
    if count > MAX_IMAGES:
        raise ComplaintRequestError(
            "TOO_MANY_IMAGES",
            f"{name} has {count} images; WeChat Pay accepts {MAX_IMAGES}.",
            count=count,
            limit=MAX_IMAGES,
        )
    if any(not isinstance(media_id, str) or not media_id for media_id in ids):
        raise ComplaintRequestError("INVALID_MEDIA_ID", f"{name} holds an empty media_id.")
    return ids


def _check_https(code: str, url: str, limit: int) -> None:
    if not isinstance(url, str) or not url.startswith("https://") or len(url) <= len("https://"):
        raise ComplaintRequestError(code, f"The URL must be HTTPS: {url!r}.", limit=limit)
    _check_length(code, "The URL", url, limit)


#: Characters that show nothing: separators, controls, format characters (zero-width
#: space, joiners, marks), unassigned and private-use code points, lone combining marks.
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
#: Letters and symbols that render blank all the same (Hangul fillers, the braille blank).
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_invisible(text: str) -> bool:
    """Whether ``text`` shows nothing at all (empty, or only invisible characters)."""
    return all(ch in _BLANK_CHARACTERS or unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in text)


def check_text(name: str, text: str) -> None:
    """Refuse what APIv3 text cannot carry: characters of 4 bytes in UTF-8 (emoji...).

    APIv3 text takes 1–3-byte UTF-8 only; the first such character is named (``U+…``)
    in the error's ``character`` parameter.
    """
    for ch in text:
        if ord(ch) > 0xFFFF:
            code_point = f"U+{ord(ch):04X}"
            raise ComplaintRequestError(
                "UNSUPPORTED_CHARACTER",
                f"{name} holds {code_point}, which WeChat Pay does not accept (4 bytes in UTF-8).",
                character=code_point,
            )


def check_reply(
    content: str,
    media_ids: Sequence[str] | int = (),
    jump_url: str | None = None,
    jump_url_text: str | None = None,
) -> list[str]:
    """Every documented limit of a reply (回复用户), in one place; returns the media_ids as a list.

    The form, the desk's service and the call itself all check through this.
    ``media_ids`` may be a count while the images are not uploaded yet. Raises
    :class:`ComplaintRequestError` with a code for the first rule broken.
    """
    if not isinstance(content, str) or is_invisible(content):  # blank, or only invisible characters
        raise ComplaintRequestError("EMPTY_CONTENT", "The reply has no visible text.", limit=MAX_RESPONSE_CONTENT)
    _check_length("CONTENT_TOO_LONG", "The reply", content, MAX_RESPONSE_CONTENT)
    check_text("The reply", content)
    ids = _check_media_ids("The reply", media_ids)
    if jump_url or jump_url_text:
        if not jump_url or not jump_url_text:
            raise ComplaintRequestError("INCOMPLETE_JUMP_LINK", "jump_url and jump_url_text go together.")
        _check_https("INVALID_JUMP_URL", jump_url, MAX_JUMP_URL)
        _check_length("JUMP_TEXT_TOO_LONG", "jump_url_text", jump_url_text, MAX_JUMP_URL_TEXT)
        check_text("jump_url_text", jump_url_text)
    return ids


def check_idempotent_id(idempotent_id: str) -> str:
    """``idempotent_id`` if it is one (letters, digits, ``_.:-``; 1–128), else :class:`ComplaintRequestError`."""
    if not isinstance(idempotent_id, str) or not _IDEMPOTENT_RE.match(idempotent_id):
        raise ComplaintRequestError(
            "INVALID_IDEMPOTENT_ID", f"Not an idempotent_id: {idempotent_id!r}.", limit=MAX_IDEMPOTENT_ID
        )
    return idempotent_id


def check_instant_reply(blocks: Sequence[Block], idempotent_id: str | None = None) -> list[Block]:
    """Every limit of an instant-service reply's message, in one place; returns the blocks as a list.

    At least one block; at most :data:`MAX_BLOCKS`, :data:`MAX_IMAGES` of them images;
    every text visible, ≤ :data:`MAX_BLOCK_TEXT`, 1–3-byte UTF-8; links HTTPS with a
    short text. ``idempotent_id`` is checked when given (the form checks before it has one).
    """
    items = list(blocks)
    if not items or all(isinstance(b, TextBlock) and is_invisible(b.text) for b in items):
        raise ComplaintRequestError("EMPTY_CONTENT", "The message has nothing to show.", limit=MAX_BLOCK_TEXT)
    if len(items) > MAX_BLOCKS:
        raise ComplaintRequestError(
            "TOO_MANY_BLOCKS", f"The message has {len(items)} blocks; at most {MAX_BLOCKS}.", limit=MAX_BLOCKS
        )
    _check_media_ids("The message", [b.media_id for b in items if isinstance(b, ImageBlock)])
    for block in items:
        if isinstance(block, TextBlock):
            if not isinstance(block.text, str) or is_invisible(block.text):
                raise ComplaintRequestError("EMPTY_CONTENT", "A text block has no visible text.", limit=MAX_BLOCK_TEXT)
            _check_length("CONTENT_TOO_LONG", "A text block", block.text, MAX_BLOCK_TEXT)
            check_text("A text block", block.text)
        elif isinstance(block, ImageBlock):
            if block.style not in IMAGE_STYLES:
                raise ComplaintRequestError("INVALID_IMAGE_STYLE", f"Not an image_style_type: {block.style!r}.")
        elif isinstance(block, LinkBlock):
            if not isinstance(block.text, str) or is_invisible(block.text):
                raise ComplaintRequestError("INCOMPLETE_JUMP_LINK", "A link needs a visible text.")
            _check_length("JUMP_TEXT_TOO_LONG", "A link's text", block.text, MAX_LINK_TEXT)
            check_text("A link's text", block.text)
            _check_https("INVALID_JUMP_URL", block.url, MAX_JUMP_URL)
        else:
            raise ComplaintRequestError("INVALID_BLOCK", f"Not a message block: {block!r}.")
    if idempotent_id is not None:
        check_idempotent_id(idempotent_id)
    return items
