"""Staff see only their merchants: every admin screen, list, search, filter, count, action and alert.

``agent`` is granted merchant A. Every object-bound admin screen of both apps is
tried on merchant B's records (GET and POST): it reveals nothing, changes nothing
and sends nothing to WeChat Pay (the sandbox's request log stays empty); the same
screen on A's records works. :func:`test_every_admin_screen_is_covered` fails when
a new admin URL appears that this module does not try.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, reverse

from django_wxpay_media import scoping
from django_wxpay_media.complaints import alerts, once, saved_replies
from django_wxpay_media.complaints.models import (
    Complaint,
    DeskAction,
    FormToken,
    Notification,
    Reply,
    SavedReply,
)
from django_wxpay_media.models import FeedbackImage
from tests import scoping_world
from tests.grants import grant, sees_every_merchant
from tests.scoping_world import MCH_A, MCH_B, Merchant, World

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def world(desk) -> World:
    return scoping_world.build()


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# -- every object-bound screen ----------------------------------------------------------------------

C = "wxpay_complaints"
M = "django_wxpay_media"

#: URL name -> the URL arguments for a merchant's records.
SCREENS: dict[str, Callable[[Merchant], list[Any]]] = {
    f"{C}_complaint_change": lambda m: [m.complaint.pk],
    f"{C}_complaint_history": lambda m: [m.complaint.pk],
    f"{C}_complaint_delete": lambda m: [m.complaint.pk],
    f"{C}_complaint_reply": lambda m: [m.complaint.pk],
    f"{C}_complaint_resend": lambda m: [m.complaint.pk, m.reply.pk],
    f"{C}_complaint_complete": lambda m: [m.complaint.pk],
    f"{C}_complaint_refund": lambda m: [m.complaint.pk],
    f"{C}_complaint_instant": lambda m: [m.complaint.pk],
    f"{C}_complaint_refresh": lambda m: [m.complaint.pk],
    f"{C}_complaint_assign": lambda m: [m.complaint.pk],
    f"{C}_complaint_image": lambda m: [m.consumer_image.pk],
    f"{C}_complaint_reply_image": lambda m: [m.reply_image.pk],
    f"{C}_reply_change": lambda m: [m.reply.pk],
    f"{C}_reply_history": lambda m: [m.reply.pk],
    f"{C}_reply_delete": lambda m: [m.reply.pk],
    f"{C}_notification_change": lambda m: [m.notification.pk],
    f"{C}_notification_history": lambda m: [m.notification.pk],
    f"{C}_notification_delete": lambda m: [m.notification.pk],
    f"{M}_feedbackimage_change": lambda m: [m.loose_image.pk],
    f"{M}_feedbackimage_history": lambda m: [m.loose_image.pk],
    f"{M}_feedbackimage_delete": lambda m: [m.loose_image.pk],
    f"{M}_feedbackimage_upload": lambda m: [m.loose_image.pk],
    f"{M}_feedbackimage_file": lambda m: [m.loose_image.pk],
}

#: What agent's GET of the screen on merchant A's records answers (200 unless said here).
VISIBLE_GET: dict[str, int] = {
    f"{C}_complaint_delete": 403,  # the desk's records are never deleted, whoever asks
    f"{C}_reply_delete": 403,
    f"{C}_notification_delete": 403,
    f"{M}_feedbackimage_delete": 403,  # agent may not delete images
    f"{C}_complaint_resend": 302,  # a POST-only screen: GET leads back to the complaint
    f"{C}_complaint_refresh": 302,
    f"{C}_complaint_assign": 302,
    f"{M}_feedbackimage_upload": 405,  # POST only
}

#: Lists, checked row by row and by their counts in the tests below.
LISTS = {
    f"{C}_complaint_changelist",
    f"{C}_reply_changelist",
    f"{C}_notification_changelist",
    f"{M}_feedbackimage_changelist",
}

#: Screens bound to no merchant's record, and why.
NOT_OBJECT_BOUND = {
    f"{C}_complaint_add",  # the desk's records are written by the service only (403)
    f"{C}_reply_add",
    f"{C}_notification_add",
    f"{M}_feedbackimage_add",  # offers only the accounts of granted merchants: test_merchant_scoping_uploads
    # Grants are seen and changed only by whoever may change grants (superusers): see test_grants_admin.
    f"{M}_merchantgrant_changelist",
    f"{M}_merchantgrant_add",
    f"{M}_merchantgrant_change",
    f"{M}_merchantgrant_history",
    f"{M}_merchantgrant_delete",
    # Saved replies are shared by every merchant; their image chooser is scoped (test below).
    f"{C}_savedreply_changelist",
    f"{C}_savedreply_add",
    f"{C}_savedreply_change",
    f"{C}_savedreply_history",
    f"{C}_savedreply_delete",
}


def _admin_url_names() -> set[str]:
    """Every named URL of every admin registered for a model of either app (a new admin included)."""
    names: set[str] = set()
    models = [*apps.get_app_config(C).get_models(), *apps.get_app_config(M).get_models()]
    for model in models:
        if not admin.site.is_registered(model):
            continue
        for pattern in admin.site.get_model_admin(model).get_urls():
            if isinstance(pattern, URLPattern) and pattern.name:
                names.add(pattern.name)
    return names


def test_every_admin_screen_is_covered():
    """A new admin screen must be tried on another merchant's records here, or be listed as not object-bound."""
    names = _admin_url_names()
    assert names - set(SCREENS) - LISTS - NOT_OBJECT_BOUND == set(), "a screen this module does not try"
    assert set(SCREENS) | LISTS <= names, "a screen that no longer exists"


def _post_data(name: str, complaint: Complaint) -> dict[str, Any]:
    """A form as staff would send it, with a valid one-time token: only the scoping can stop it."""
    action = {"reply": "reply", "complete": "complete", "refund": "refund", "instant": "instant"}.get(
        name.rsplit("_", 1)[-1]
    )
    data: dict[str, Any] = {
        "content": "您好",
        "text": "您好",
        "confirm": "True",
        "action": "APPROVE",
        "launch_refund_day": "0",
    }
    if action:
        data[once.FIELD] = once.issue(complaint, action)
    return data


def _flag_for_instant_service(name: str, world: World) -> None:
    """The instant-service screen is offered only for complaints WeChat Pay flags: flag both merchants'."""
    if name == f"{C}_complaint_instant":
        Complaint.objects.filter(pk__in=[world.a.complaint.pk, world.b.complaint.pk]).update(
            need_immediate_service=True
        )


def _snapshot(merchant: Merchant) -> tuple[Any, ...]:
    complaint = Complaint.objects.get(pk=merchant.complaint.pk)
    image = FeedbackImage.objects.get(pk=merchant.loose_image.pk)
    return (
        complaint.state,
        complaint.synced_at,
        Reply.objects.filter(complaint=complaint).count(),
        DeskAction.objects.filter(complaint=complaint).count(),
        image.status,
        image.attempts,
        Notification.objects.filter(pk=merchant.notification.pk).exists(),
    )


@pytest.mark.parametrize("name", sorted(SCREENS))
def test_a_screen_on_another_merchants_record_reveals_does_and_sends_nothing(name, world, desk):
    _flag_for_instant_service(name, world)
    url = reverse(f"admin:{name}", args=SCREENS[name](world.b))
    client = logged_in(world.agent)
    before = _snapshot(world.b)

    for response in (client.get(url), client.post(url, _post_data(name, world.b.complaint))):
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code in (302, 403, 404, 405), response.status_code
        for secret in world.b.secrets:
            assert secret.encode() not in body
        location = response.get("Location", "")
        assert f"/{world.b.complaint.pk}/" not in location or "complaint" not in location

    assert desk.requests == []
    assert _snapshot(world.b) == before
    assert not FormToken.objects.filter(complaint=world.b.complaint, used_at__isnull=False).exists()


@pytest.mark.parametrize("name", sorted(SCREENS))
def test_the_same_screen_on_a_granted_merchants_record_works(name, world):
    _flag_for_instant_service(name, world)
    response = logged_in(world.agent).get(reverse(f"admin:{name}", args=SCREENS[name](world.a)))
    expected = VISIBLE_GET.get(name, 200)
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"] == reverse(f"admin:{C}_complaint_change", args=[world.a.complaint.pk])


@pytest.mark.parametrize("name", sorted(SCREENS))
def test_a_superuser_and_a_group_member_reach_merchant_bs_screens(name, world):
    _flag_for_instant_service(name, world)
    url = reverse(f"admin:{name}", args=SCREENS[name](world.b))
    expected = VISIBLE_GET.get(name, 200)
    if name == f"{M}_feedbackimage_delete":
        expected = 200  # a superuser may delete an image
    assert logged_in(world.boss).get(url).status_code == expected
    if name != f"{M}_feedbackimage_delete":
        assert logged_in(world.group_member_of_b()).get(url).status_code == VISIBLE_GET.get(name, 200)


# -- lists: rows, counts, search, filters, actions ---------------------------------------------------------

LIST_ROWS: dict[str, Callable[[Merchant], str]] = {
    f"{C}_complaint_changelist": lambda m: m.complaint.complaint_id,
    f"{C}_reply_changelist": lambda m: m.complaint.complaint_id,
    f"{C}_notification_changelist": lambda m: m.notification.notification_id,
    f"{M}_feedbackimage_changelist": lambda m: m.loose_image.filename,
}


@pytest.mark.parametrize("name", sorted(LISTS))
def test_a_list_shows_and_counts_only_the_granted_merchant(name, world):
    response = logged_in(world.agent).get(reverse(f"admin:{name}"))
    page = response.content.decode()
    changelist = response.context["cl"]
    per_merchant = 2 if name.endswith("feedbackimage_changelist") else 1  # a loose image and a reply's
    # The complaint list does not count the whole table (show_full_result_count off): None there.
    counted = changelist.model_admin.show_full_result_count
    assert (changelist.result_count, changelist.full_result_count) == (per_merchant, per_merchant if counted else None)
    assert LIST_ROWS[name](world.a) in page
    for secret in world.b.secrets:
        assert secret not in page

    everything = logged_in(world.boss).get(reverse(f"admin:{name}")).context["cl"]
    assert everything.result_count == 2 * per_merchant
    assert everything.full_result_count == (2 * per_merchant if counted else None)


@pytest.mark.parametrize(
    ("name", "query"),
    [
        (f"{C}_complaint_changelist", lambda m: m.complaint.complaint_id),
        (f"{C}_complaint_changelist", lambda m: m.complaint.out_trade_no),
        (f"{C}_complaint_changelist", lambda m: m.complaint.transaction_id),
        (f"{C}_reply_changelist", lambda m: m.complaint.complaint_id),
        (f"{C}_notification_changelist", lambda m: m.notification.notification_id),
        (f"{C}_notification_changelist", lambda m: m.complaint.complaint_id),
        (f"{M}_feedbackimage_changelist", lambda m: m.loose_image.filename),
        (f"{M}_feedbackimage_changelist", lambda m: m.loose_image.sha256),
    ],
)
def test_search_by_another_merchants_numbers_finds_nothing(name, query, world):
    url = reverse(f"admin:{name}")
    assert logged_in(world.agent).get(url, {"q": query(world.b)}).context["cl"].result_count == 0
    assert logged_in(world.agent).get(url, {"q": query(world.a)}).context["cl"].result_count >= 1
    assert logged_in(world.boss).get(url, {"q": query(world.b)}).context["cl"].result_count >= 1


def test_the_merchant_filter_lists_only_granted_merchants(world):
    url = reverse(f"admin:{C}_complaint_changelist")
    page = logged_in(world.agent).get(url).content.decode()
    assert f"complainted_mchid={MCH_A}" in page and MCH_B not in page
    # Asking for B's rows by URL gives none.
    assert logged_in(world.agent).get(url, {"complainted_mchid": MCH_B}).context["cl"].result_count == 0
    page = logged_in(world.boss).get(url).content.decode()
    assert f"complainted_mchid={MCH_A}" in page and f"complainted_mchid={MCH_B}" in page


def test_the_upload_action_on_another_merchants_rows_sends_nothing(world, desk, django_capture_on_commit_callbacks):
    url = reverse(f"admin:{M}_feedbackimage_changelist")
    before = _snapshot(world.b)
    selected = [world.b.loose_image.pk, world.b.reply_image.pk]
    with django_capture_on_commit_callbacks(execute=True):  # uploads wait for the test's transaction
        logged_in(world.agent).post(url, {"action": "upload_selected", "_selected_action": selected})
    assert desk.requests == []
    assert _snapshot(world.b) == before
    with django_capture_on_commit_callbacks(execute=True):  # a superuser's same action does upload
        logged_in(world.boss).post(url, {"action": "upload_selected", "_selected_action": selected})
    assert len(desk.requests) == 2


def test_the_saved_reply_image_chooser_offers_only_granted_merchants_images(world):
    saved = SavedReply.objects.create(title="Sorry", text="Sorry about {order}")
    saved.images.add(world.a.loose_image, world.b.loose_image)
    client = logged_in(world.agent)
    url = reverse(f"admin:{C}_savedreply_change", args=[saved.pk])
    page = client.get(url).content.decode()
    assert world.a.loose_image.filename in page and world.b.loose_image.filename not in page
    # Saving keeps the image the agent could not see (the form only replaces what it showed).
    response = client.post(url, {"title": "Sorry", "text": "Sorry", "images": [world.a.reply_image.pk]})
    assert response.status_code == 302
    assert set(saved.images.all()) == {world.a.reply_image, world.b.loose_image}


def test_a_saved_reply_drafts_only_the_images_its_user_sees(world):
    saved = SavedReply.objects.create(title="Sorry", text="Sorry about {order}")
    saved.images.add(world.a.loose_image, world.b.loose_image)
    assert saved_replies.render(saved, world.a.complaint, user=world.agent).images == [world.a.loose_image]
    assert len(saved_replies.render(saved, world.a.complaint, user=world.boss).images) == 2


# -- alerts -------------------------------------------------------------------------------------------------


def test_alerts_go_only_to_staff_who_see_the_merchant(world):
    grouped = world.group_member_of_b()
    address = {address for address, _ in alerts.recipients(world.b.complaint)}
    assert address == {"boss@example.com", grouped.email}
    address = {address for address, _ in alerts.recipients(world.a.complaint)}
    assert address == {"boss@example.com", "agent@example.com"}


def test_an_assignee_who_does_not_see_the_merchant_is_not_alerted(world):
    Complaint.objects.filter(pk=world.b.complaint.pk).update(assignee=world.agent)
    complaint = Complaint.objects.select_related("assignee").get(pk=world.b.complaint.pk)
    assert "agent@example.com" not in {address for address, _ in alerts.recipients(complaint)}


# -- the rule -------------------------------------------------------------------------------------------------


def test_the_rule(world):
    assert scoping.visible_mchids(world.boss) is None
    assert scoping.visible_mchids(world.agent) == {MCH_A}
    assert scoping.visible_mchids(world.group_member_of_b()) == {MCH_B}
    nobody = scoping_world.staff_member("nobody")
    assert scoping.visible_mchids(nobody) == frozenset()
    assert scoping.visible_mchids(sees_every_merchant(User.objects.get(pk=nobody.pk))) is None
    grant(MCH_B, user=world.agent)
    assert scoping.visible_mchids(world.agent) == {MCH_A, MCH_B}
    world.agent.is_active = False
    assert scoping.visible_mchids(world.agent) == frozenset()
