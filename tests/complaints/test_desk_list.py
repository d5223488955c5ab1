"""The deadline desk's list in the admin: what is due first, countdowns, counts, filters, flags.

Complaints come from the sandbox (aged with ``complaint_time``, flagged with
``extra``) through the service, except the 50 rows of the query-count test.
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_wxpay_media.complaints.models import Complaint

from .helpers import aged, desk_staff, post

pytestmark = pytest.mark.django_db

LIST = "admin:wxpay_complaints_complaint_changelist"


def staff(username="lead", *codenames):
    return desk_staff(username, "view_complaint", *codenames)


def rows(page: str) -> list[str]:
    body = page.split('id="result_list"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


@pytest.fixture
def day(desk):
    """A desk's day: on time, due within the hour, overdue (reply), overdue (completion), processed."""
    return {
        "on_time": aged(desk, 2, out_trade_no="ON-TIME"),
        "soon": aged(desk, 23.5, out_trade_no="SOON", extra={"need_immediate_service": True}),
        "late": aged(desk, 26, out_trade_no="LATE", extra={"user_tag_list": ["TRUSTED"]}),
        "late_processing": aged(desk, 75, "PROCESSING", out_trade_no="LATE-P", extra={"user_complaint_times": 4}),
        "done": aged(desk, 100, "PROCESSED", out_trade_no="DONE"),
    }


def test_the_list_shows_what_is_due_first_with_countdowns_in_colour(client, day):
    client.force_login(staff())
    page = client.get(reverse(LIST)).content.decode()
    order = [re.search(r"(ON-TIME|SOON|LATE-P|LATE|DONE)", row).group(1) for row in rows(page)]
    assert order == ["LATE-P", "LATE", "SOON", "ON-TIME", "DONE"]  # the database's order, processed last
    late, soon = rows(page)[1], rows(page)[2]
    assert 'class="wxpay-due wxpay-due-overdue"' in late and "overdue by 2" in late
    assert 'class="wxpay-due wxpay-due-due_soon"' in soon and "minutes left" in soon
    assert 'class="wxpay-due wxpay-due-on_time"' in rows(page)[3]
    assert "wxpay_complaints/desk.css" in page and ' style="' not in page  # colours from the CSS file (CSP)
    # The flags as small labels; the order number and amount stay in the list.
    assert re.search(r'wxpay-flag-immediate_service"[^>]*>Immediate service needed<', soon)
    assert "Trusted consumer" in late and "Repeat complainant" in rows(page)[0]
    assert "field-out_trade_no" in late and "field-amount_yuan" in late


def test_the_counts_on_top_link_to_what_they_count(client, day):
    client.force_login(staff())
    page = client.get(reverse(LIST)).content.decode()
    counts = {
        label: int(number)
        for number, label in re.findall(r"<strong>(\d+)</strong> <span>([^<]+)</span>", page.split("wxpay-counts")[1])
    }
    assert counts == {
        "Pending": 3,
        "Pending, overdue": 1,
        "Processing": 1,
        "Processing, overdue": 1,
        "Processed": 1,
    }
    link = re.search(r'href="([^"]+)"><strong>1</strong> <span>Pending, overdue', page).group(1)
    assert "urgency=overdue" in link and "state__exact=PENDING" in link
    listed = client.get(link.replace("&amp;", "&")).content.decode()
    assert [r for r in rows(listed) if "LATE" in r] and len(rows(listed)) == 1
    # The counts are the desk's, whatever the list is filtered on.
    filtered = client.get(reverse(LIST), {"state__exact": "PROCESSED"}).content.decode()
    assert "<strong>3</strong> <span>Pending</span>" in filtered


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"urgency": "overdue"}, {"LATE", "LATE-P"}),
        ({"urgency": "due_soon"}, {"SOON"}),
        ({"urgency": "on_time"}, {"ON-TIME"}),
        ({"flag": "immediate_service"}, {"SOON"}),
        ({"flag": "trusted"}, {"LATE"}),
        ({"flag": "repeat_complainant"}, {"LATE-P"}),
        ({"flag": "refund_requested"}, {"ON-TIME", "SOON", "LATE", "LATE-P", "DONE"}),
        ({"state__exact": "PROCESSING"}, {"LATE-P"}),
        ({"assigned": "nobody"}, {"ON-TIME", "SOON", "LATE-P", "DONE"}),
        ({"assigned": "me"}, {"LATE"}),
    ],
)
def test_the_filters(client, day, params, expected):
    lead = staff()
    Complaint.objects.filter(pk=day["late"].pk).update(assignee=lead)
    client.force_login(lead)
    page = client.get(reverse(LIST), params).content.decode()
    found = {re.search(r"(ON-TIME|SOON|LATE-P|LATE|DONE)", row).group(1) for row in rows(page)}
    assert found == expected


def test_the_wrote_again_filter_follows_a_user_response_notification(client, desk):
    quiet = aged(desk, 1, out_trade_no="QUIET")
    writing = aged(desk, 1, out_trade_no="WRITING")
    headers, body = desk.notification(writing.complaint_id, "USER_RESPONSE")  # the detail does not say so
    assert post(client, headers, body).status_code == 204
    client.force_login(staff())
    with CaptureQueriesContext(connection) as filtered:
        page = client.get(reverse(LIST), {"flag": "wrote_again"}).content.decode()
    assert "WRITING" in page and "QUIET" not in page
    # Columns of the complaint only: neither the notifications nor the history are read for it.
    assert not [q for q in filtered.captured_queries if "notification" in q["sql"] or "historyentry" in q["sql"]]
    with CaptureQueriesContext(connection) as plain:
        page = client.get(reverse(LIST)).content.decode()
    assert len(filtered.captured_queries) <= len(plain.captured_queries)
    assert "Consumer wrote again" in page
    # The flag on the rows, from the rows themselves: only the writing one raises it.
    flagged = [row for row in rows(page) if "wxpay-flag-wrote_again" in row]
    assert len(flagged) == 1 and "WRITING" in flagged[0]
    assert quiet.pk


def test_the_date_filter_offers_no_no_date(client, day):
    client.force_login(staff())
    page = client.get(reverse(LIST)).content.decode()
    assert "Past 7 days" in page
    assert "complaint_time__isnull" not in page and "No date" not in page


def test_the_list_speaks_chinese(client, day):
    client.force_login(staff())
    page = client.get(reverse(LIST), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "已超时" in page and "需立即处理" in page and "处理中，已超时" in page and "分配给我" in page
    assert "<strong>3</strong> <span>待处理</span>" in page  # the complaint's state, not an upload's


def test_the_number_of_queries_does_not_grow_with_the_rows(client, django_assert_max_num_queries):
    lead = staff()
    client.force_login(lead)
    now = timezone.now()

    def fill(count: int, start: int) -> None:
        Complaint.objects.bulk_create(
            Complaint(
                complaint_id=f"C{start + n:020d}",
                state=("PENDING", "PROCESSING", "PROCESSED")[n % 3],
                problem_type="REFUND",
                apply_refund_amount=100,
                complainted_mchid="1900000109",
                out_trade_no=f"O{start + n}",
                amount=1000 + n,
                complaint_time=now - datetime.timedelta(hours=n),
                need_immediate_service=n % 2 == 0,
                trusted_consumer=n % 3 == 0,
                user_complaint_times=n % 4,
                assignee=lead if n % 5 == 0 else None,
                consumer_wrote_at=now if n % 7 == 0 else None,  # wrote again: a flag on the row
            )
            for n in range(count)
        )

    fill(1, 0)
    with CaptureQueriesContext(connection) as one_row:
        assert client.get(reverse(LIST)).status_code == 200
    fill(49, 1000)
    with django_assert_max_num_queries(len(one_row.captured_queries)):
        page = client.get(reverse(LIST)).content.decode()
    assert len(rows(page)) == 50
    assert sum("wxpay-flag-wrote_again" in row for row in rows(page)) == 1 + 7  # every 7th of each fill


def test_the_filters_count_with_django_facets(client, day):
    client.force_login(staff())
    page = client.get(reverse(LIST), {"_facets": "True"}).content.decode()
    filters = page.split('id="changelist-filter"', 1)[1]
    assert re.search(r"Overdue\s*\(2\)", filters) and re.search(r"Immediate service needed\s*\(1\)", filters)
