"""Staff upload only for the merchants they see: the add form offers only their accounts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.sandbox.keys import DEFAULT_MCHID

from .admin_helpers import ADD
from .grants import grant
from .helpers import SHOP2
from .images import png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def uploader(*mchids: str) -> Client:
    user = User.objects.create_user("uploader", password="pw", is_staff=True)
    codenames = ["view_feedbackimage", "add_feedbackimage", "upload_feedbackimage"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    for mchid in mchids:
        grant(mchid, user=user)
    client = Client()
    client.force_login(user)
    return client


def test_the_add_form_offers_only_the_accounts_of_granted_merchants(upload_shops, django_capture_on_commit_callbacks):
    first, second = upload_shops
    client = uploader(SHOP2)
    page = client.get(reverse(ADD)).content.decode()
    assert f"shop2 ({SHOP2})" in page and f"({DEFAULT_MCHID})" not in page
    upload = {"account": "default", "upload": SimpleUploadedFile("a.png", png_bytes(61))}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(ADD), upload)
    assert response.status_code == 200  # the form again: not a valid choice
    assert not FeedbackImage.objects.exists() and first.requests == [] and second.requests == []
    upload = {"account": "shop2", "upload": SimpleUploadedFile("a.png", png_bytes(61))}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse(ADD), upload).status_code == 302
    assert FeedbackImage.objects.get().mchid == SHOP2


def test_staff_who_see_none_of_the_sites_merchants_cannot_add(wxpay_settings):
    client = uploader("1900000999")
    assert client.get(reverse(ADD)).status_code == 403
    assert client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(62))}).status_code == 403
    assert not FeedbackImage.objects.exists() and wxpay_settings.requests == []
    User.objects.all().delete()
    assert uploader(DEFAULT_MCHID).get(reverse(ADD)).status_code == 200
