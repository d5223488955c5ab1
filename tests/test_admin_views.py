"""The admin's own views (add = upload, retry) on Django's public admin API.

What these pin down: the add view is reached from the admin's usual add URL and
name, checks the add permission and CSRF, keeps the changelist's filters like
Django's ``response_add``, and holds no transaction while WeChat Pay answers.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse

from django_wxpay_media import signals
from django_wxpay_media.models import FeedbackImage
from tests.grants import sees_every_merchant

from .admin_helpers import ADD, CHANGELIST, change_url
from .images import png_bytes

pytestmark = pytest.mark.django_db

Status = FeedbackImage.Status
FILTERS = "status__exact=failed&q=receipt"


def add_url_with_filters() -> str:
    """The add page as the changelist's Add button links it while a filter is on."""
    from urllib.parse import quote

    return f"{reverse(ADD)}?_changelist_filters={quote(FILTERS)}"


def test_add_url_and_changelist_button_lead_to_the_upload_view(admin_client, wxpay_settings):
    changelist = admin_client.get(reverse(CHANGELIST)).content.decode()
    page = admin_client.get(reverse(ADD))

    assert f'href="{reverse(ADD)}"' in changelist
    assert page.status_code == 200
    assert page.resolver_match.func.__name__ == "upload_add_view"
    html = page.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert 'name="upload"' in html and 'accept="image/jpeg' in html
    # The admin's own look: its base template, breadcrumbs, submit row, site header.
    assert "admin/change_form.html" in [template.name for template in page.templates]
    assert 'name="_save"' in html and 'name="_addanother"' in html and 'name="_continue"' in html
    assert page.context["site_header"] == "Django administration"
    assert page.context["title"] == "Add feedback image"


@pytest.mark.parametrize(
    ("button", "expected"),
    [
        ("_addanother", lambda image: reverse(ADD)),
        ("_continue", change_url),
        ("_save", lambda image: reverse(CHANGELIST)),
    ],
)
def test_save_buttons_keep_the_changelist_filters(admin_client, wxpay_settings, button, expected):
    response = admin_client.post(
        add_url_with_filters(), {"upload": SimpleUploadedFile("receipt.png", png_bytes(40)), button: "1"}
    )

    image = FeedbackImage.objects.get()
    assert response.status_code == 302
    path, _, query = response.url.partition("?")
    assert path == expected(image)
    if button == "_save":  # back on the filtered list itself
        assert query == FILTERS
    else:
        assert query == "_changelist_filters=status__exact%3Dfailed%26q%3Dreceipt"


def test_add_form_posts_back_with_the_filters(admin_client, wxpay_settings):
    html = admin_client.get(add_url_with_filters()).content.decode()

    assert 'action="?_changelist_filters=status__exact%3Dfailed%26q%3Dreceipt"' in html


@pytest.mark.django_db(transaction=True)
def test_failed_add_goes_to_the_kept_record_with_the_filters(admin_client, wxpay_settings):
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="参数错误")

    response = admin_client.post(add_url_with_filters(), {"upload": SimpleUploadedFile("receipt.png", png_bytes(41))})

    image = FeedbackImage.objects.get()
    assert image.status == Status.FAILED
    assert response.url == f"{change_url(image)}?_changelist_filters=status__exact%3Dfailed%26q%3Dreceipt"


def test_add_needs_the_add_permission(django_user_model, client, wxpay_settings):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename="view_feedbackimage"))
    client.force_login(user)

    assert client.get(reverse(ADD)).status_code == 403
    assert client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(42))}).status_code == 403
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


def test_add_needs_a_staff_login(client, wxpay_settings):
    response = client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(43))})

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    assert wxpay_settings.requests == []


def test_add_is_csrf_protected(admin_user, wxpay_settings):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(44))})

    assert response.status_code == 403
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_retry_is_csrf_protected(admin_user, wxpay_settings):
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="参数错误")
    admin = Client()
    admin.force_login(admin_user)
    admin.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(45))})
    image = FeedbackImage.objects.get()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(reverse("admin:django_wxpay_media_feedbackimage_upload", args=(image.pk,)))

    assert response.status_code == 403
    image.refresh_from_db()
    assert image.status == Status.FAILED


def test_retry_of_a_deleted_record_says_so(admin_client, wxpay_settings):
    response = admin_client.post(reverse("admin:django_wxpay_media_feedbackimage_upload", args=(999999,)), follow=True)

    assert response.redirect_chain == [(reverse(CHANGELIST), 302)]
    [message] = [str(message) for message in response.context["messages"]]
    assert message == "feedback image with ID “999999” doesn’t exist. Perhaps it was deleted?"
    assert wxpay_settings.requests == []


def test_add_in_a_popup_answers_the_opener(admin_client, wxpay_settings):
    response = admin_client.post(
        f"{reverse(ADD)}?_popup=1", {"upload": SimpleUploadedFile("a.png", png_bytes(46)), "_popup": "1"}
    )

    image = FeedbackImage.objects.get()
    assert response.status_code == 200
    assert "admin/popup_response.html" in [template.name for template in response.templates]
    assert f"&quot;value&quot;: &quot;{image.pk}&quot;" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_the_add_view_uploads(admin_client, wxpay_settings):
    # No test transaction here: an atomic block seen during the upload is the view's own.
    seen: list[bool] = []

    def during_upload(sender, image, **kwargs):  # sent by the uploading thread, right after the HTTP call
        seen.append(transaction.get_connection().in_atomic_block)

    signals.image_uploaded.connect(during_upload)
    try:
        response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(47))})
    finally:
        signals.image_uploaded.disconnect(during_upload)

    assert response.status_code == 302
    assert seen == [False]
    assert FeedbackImage.objects.get().status == Status.UPLOADED


def test_add_page_and_missing_record_in_simplified_chinese(admin_client, wxpay_settings):
    page = admin_client.get(reverse(ADD), HTTP_ACCEPT_LANGUAGE="zh-hans")
    gone = admin_client.post(
        reverse("admin:django_wxpay_media_feedbackimage_upload", args=(999999,)),
        HTTP_ACCEPT_LANGUAGE="zh-hans",
        follow=True,
    )

    assert page.context["title"] == "增加 反馈图片"
    html = page.content.decode()
    assert "图片" in html and "保存" in html
    [message] = [str(message) for message in gone.context["messages"]]
    assert message == "ID 为“999999”的 反馈图片 不存在。可能已经被删除了？"  # Django's own translation


@pytest.mark.django_db(transaction=True)
def test_no_transaction_while_uploading_even_with_atomic_requests(admin_client, wxpay_settings, monkeypatch):
    # A site with ATOMIC_REQUESTS: Django would wrap every view in a transaction.
    monkeypatch.setitem(transaction.get_connection().settings_dict, "ATOMIC_REQUESTS", True)
    seen: list[bool] = []

    def during_upload(sender, image, **kwargs):
        seen.append(transaction.get_connection().in_atomic_block)

    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="参数错误")
    signals.image_upload_failed.connect(during_upload)
    signals.image_uploaded.connect(during_upload)
    try:
        admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(48))})  # fails
        failed = FeedbackImage.objects.get()
        admin_client.post(reverse("admin:django_wxpay_media_feedbackimage_upload", args=(failed.pk,)))  # retry
        admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("b.png", png_bytes(49))})
        pending = FeedbackImage.objects.create(
            filename="c.png", sha256="0" * 64, size=1, content_type="image/png", mchid=wxpay_settings.mchid
        )
        FeedbackImage.objects.filter(pk=failed.pk).update(status=Status.FAILED)
        admin_client.post(
            reverse(CHANGELIST), {"action": "upload_selected", "_selected_action": [failed.pk, pending.pk]}
        )
    finally:
        signals.image_upload_failed.disconnect(during_upload)
        signals.image_uploaded.disconnect(during_upload)

    # add (failed), retry (uploaded), add (uploaded), action: two attempts
    assert len(seen) == 5
    assert not any(seen)


@pytest.mark.django_db(transaction=True)
def test_failed_add_by_staff_who_may_not_upload_points_to_a_colleague(django_user_model, client, wxpay_settings):
    user = sees_every_merchant(django_user_model.objects.create_user("clerk", password="pw", is_staff=True))
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_feedbackimage", "add_feedbackimage"]))
    client.force_login(user)
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="参数错误")

    response = client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(50))}, follow=True)

    image = FeedbackImage.objects.get()
    assert response.redirect_chain == [(change_url(image), 302)]
    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith("“a.png” could not be uploaded to WeChat Pay: WeChat Pay rejected a parameter")
    assert message.endswith("A colleague allowed to upload can retry it from the image's page.")
    assert "Retry upload" not in response.content.decode()
