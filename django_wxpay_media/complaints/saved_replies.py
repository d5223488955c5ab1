"""Saved replies: staff start a reply from a template with the order's number and amount filled in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from ..models import FeedbackImage
from ..scoping import for_user
from .flags import yuan
from .models import Complaint, SavedReply

#: Placeholders a saved reply's text may hold, and what they become.
PLACEHOLDERS = ("{order}", "{amount}")


@dataclass(frozen=True)
class Draft:
    """A reply to start from: its text, and the images of the template (uploaded earlier)."""

    text: str
    images: list[FeedbackImage]


def render_text(text: str, complaint: Complaint) -> str:
    """``text`` with ``{order}`` → the order number and ``{amount}`` → the amount in yuan.

    Plain replacement, not ``str.format``: a stray brace in a template is just text.
    """
    return text.replace("{order}", complaint.out_trade_no).replace("{amount}", yuan(complaint.amount))


def render(saved: SavedReply, complaint: Complaint, *, user: Any = None) -> Draft:
    """The draft reply ``saved`` gives for ``complaint`` (images in the order they were added).

    With ``user``, only the images of merchants that user sees (saved replies are
    shared by every merchant; their images are not): pass the staff member.
    """
    images: QuerySet[FeedbackImage] = saved.images.order_by("pk")
    if user is not None:
        images = for_user(images, user, "mchid")
    return Draft(render_text(saved.text, complaint), list(images))
