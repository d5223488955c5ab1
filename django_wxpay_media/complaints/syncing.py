"""What a sync must fetch: only complaints whose list entry changed, only history not stored yet.

WeChat Pay's list answers each complaint's whole detail, so a sync needs no detail
call; a list entry equal to the one stored last time (compared by digest) means
nothing changed, and neither its row nor its history is fetched or written again.
History entries are appended, never rewritten: a changed complaint's history is read
from the last entry stored on (that entry read again to check the assumption; if it
is not where it was, the whole history is read).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator

from ..wechatpay import WeChatPayClient
from ..wechatpay import complaints as wc
from .models import Complaint, HistoryEntry

#: Complaints looked up in the database at once: one list page.
PAGE = wc.MAX_LIST_LIMIT


def to_fetch(
    pages: Iterable[Iterable[wc.Complaint]],
    unchanged: Callable[[Complaint], None],
    between_pages: Callable[[], None] | None = None,
) -> Iterator[tuple[wc.Complaint, Complaint | None]]:
    """The list entries that changed since they were stored, each with its stored row (``None``: new).

    ``pages`` are WeChat Pay's list pages (:func:`~..wechatpay.complaints.iter_recent_pages`),
    read lazily, with one query per page; the row of each unchanged complaint (id,
    complaint_id, state, list_digest) is passed to ``unchanged``. An entry is let go
    as it is yielded, and ``between_pages`` (the sync writing what it holds) is called
    before the next page is read: the answers held at once are one page, plus those
    still under way from the page before.
    """
    for listed in pages:
        page = collections.deque(listed)
        del listed
        # Only what deciding needs: a long sync holds one page of WeChat's answers, not every row.
        rows = Complaint.objects.only("id", "complaint_id", "state", "list_digest")
        stored = rows.in_bulk([detail.complaint_id for detail in page], field_name="complaint_id") if page else {}
        while page:
            detail = page.popleft()  # held by whoever takes it from here on, not by this page
            row = stored.pop(detail.complaint_id, None)
            if row is not None and row.list_digest and row.list_digest == detail.digest:
                unchanged(row)  # four columns; the callback keeps what it needs (the sync lightens it)
            else:
                yield detail, row
            del detail, row
        del page, stored
        if between_pages is not None:
            between_pages()


def lighten(complaint: Complaint) -> Complaint:
    """``complaint`` as a row with its id and state only (the others deferred: read again if used)."""
    fields = ["id", "complaint_id", "state"]
    return Complaint.from_db(complaint._state.db, fields, [getattr(complaint, name) for name in fields])


def history_to_store(client: WeChatPayClient, complaint_id: str, stored: Complaint | None) -> list[wc.HistoryEntry]:
    """The history entries of a complaint not stored yet (all of them for a new complaint)."""
    known = set(HistoryEntry.objects.filter(complaint=stored).values_list("log_id", flat=True)) if stored else set()
    if not known:
        return list(wc.iter_history(client, complaint_id))
    entries = list(wc.iter_history(client, complaint_id, start=len(known) - 1))
    if not entries or entries[0].log_id not in known:  # not append-only after all: read it whole
        entries = list(wc.iter_history(client, complaint_id))
    return [entry for entry in entries if entry.log_id not in known]
