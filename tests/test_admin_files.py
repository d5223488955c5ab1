"""Stored images reach staff through permission-checked admin views, from any storage.

The storage here has no URLs (``url()`` raises) and the test site has no
``MEDIA_URL`` route: every thumbnail and preview must still load.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.urls import reverse

from django_wxpay_media import services
from django_wxpay_media.admin import file_url
from django_wxpay_media.complaints import services as desk_services
from django_wxpay_media.complaints.models import Complaint, Reply
from tests.grants import sees_every_merchant

from .admin_helpers import CHANGELIST, change_url
from .images import bmp_bytes, jpeg_bytes, png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def private_storage(settings, tmp_path):
    """``WXPAY_MEDIA['STORAGE']`` names a storage outside any web root, without URLs."""
    root = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "wxpay_private": {"BACKEND": "tests.storages.NoURLStorage", "OPTIONS": {"location": str(root)}},
    }
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "STORAGE": "wxpay_private"}
    return root


def staff(django_user_model, client, username, *codenames):
    user = sees_every_merchant(django_user_model.objects.create_user(username, password="pw", is_staff=True))
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def assert_private_image(response, data: bytes, content_type: str) -> None:
    assert response.status_code == 200
    assert body(response) == data
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_a_view_only_user_sees_thumbnail_and_preview_of_a_private_storage(
    wxpay_settings, private_storage, django_user_model, client
):
    image = services.upload_image(jpeg_bytes(1), filename="receipt.jpg")
    assert (private_storage / image.file.name).is_file()
    with pytest.raises(NotImplementedError):
        image.file.url  # noqa: B018 - the storage really has no URLs
    viewer = staff(django_user_model, client, "viewer", "view_feedbackimage")

    listing = viewer.get(reverse(CHANGELIST)).content.decode()
    page = viewer.get(change_url(image)).content.decode()

    url = file_url(image)
    assert url == f"/admin/django_wxpay_media/feedbackimage/{image.pk}/file/"
    assert f'<img src="{url}" alt="receipt.jpg" loading="lazy"' in listing
    assert f'<a href="{url}" target="_blank" rel="noopener"><img src="{url}"' in page
    assert_private_image(viewer.get(url), jpeg_bytes(1), "image/jpeg")


def test_the_content_type_comes_from_the_bytes_not_the_record(wxpay_settings, private_storage, admin_client):
    image = services.upload_image(bmp_bytes(2), filename="scan.bmp")
    type(image).objects.filter(pk=image.pk).update(content_type="text/html", filename="scan.html")

    assert_private_image(admin_client.get(file_url(image)), bmp_bytes(2), "image/bmp")


def test_without_view_permission_the_file_is_refused(wxpay_settings, private_storage, django_user_model, client):
    image = services.upload_image(png_bytes(3), filename="secret.png")
    url = file_url(image)

    assert client.get(url).status_code == 302  # not logged in: the admin's login page
    other = staff(django_user_model, client, "other", "view_complaint")
    assert other.get(url).status_code == 403


def test_a_missing_file_or_record_is_404(wxpay_settings, private_storage, admin_client):
    image = services.upload_image(png_bytes(4), filename="gone.png")
    url = file_url(image)
    (private_storage / image.file.name).unlink()

    assert admin_client.get(url).status_code == 404
    assert admin_client.get(url.replace(f"/{image.pk}/", "/999999/")).status_code == 404


@pytest.fixture
def replied(desk_settings, private_storage):
    """A complaint with a reply carrying one image, in the private storage."""
    sandbox = desk_settings
    cid = sandbox.seed_complaint(images=1, problem_type="SERVICE_NOT_WORK")["complaint_id"]
    complaint = desk_services.refresh(cid).complaint
    assert complaint is not None
    outcome = desk_services.send_reply(complaint, "已处理", [ContentFile(png_bytes(5), name="evidence.png")])
    assert outcome.ok, outcome.message
    return complaint


@pytest.fixture
def desk_settings(wxpay_sandbox, settings):
    settings.WXPAY_MEDIA = {**wxpay_sandbox.settings(), "MAX_RETRIES": 1, "RETRY_BACKOFF": 0.01}
    return wxpay_sandbox


def test_the_desk_shows_reply_and_consumer_images_to_a_view_only_user(replied, django_user_model, client):
    viewer = staff(django_user_model, client, "desk-viewer", "view_complaint")
    [image] = Reply.objects.get(complaint=replied).images.all()

    page = viewer.get(reverse("admin:wxpay_complaints_complaint_change", args=[replied.pk])).content.decode()

    reply_url = reverse("admin:wxpay_complaints_complaint_reply_image", args=[image.pk])
    assert f'<img src="{reply_url}" alt="evidence.png"' in page
    assert_private_image(viewer.get(reply_url), png_bytes(5), "image/png")
    consumer = replied.images.get()
    consumer_url = reverse("admin:wxpay_complaints_complaint_image", args=[consumer.pk])
    assert consumer_url in page
    response = viewer.get(consumer_url)
    consumer.refresh_from_db()
    assert consumer.file and consumer.file.storage.exists(consumer.file.name)
    assert response.status_code == 200 and response["Content-Type"].startswith("image/")
    assert response["X-Content-Type-Options"] == "nosniff" and "no-store" in response["Cache-Control"]


def test_desk_images_are_refused_without_the_complaint_view_permission(replied, django_user_model, client):
    [image] = Reply.objects.get(complaint=replied).images.all()
    other = staff(django_user_model, client, "uploader", "view_feedbackimage")

    assert other.get(reverse("admin:wxpay_complaints_complaint_reply_image", args=[image.pk])).status_code == 403
    consumer = replied.images.get()
    assert other.get(reverse("admin:wxpay_complaints_complaint_image", args=[consumer.pk])).status_code == 403


def test_only_images_of_a_reply_are_served_by_the_desk(replied, admin_client):
    loose = services.upload_image(png_bytes(6), filename="loose.png")
    assert not Complaint.objects.filter(replies__images=loose).exists()

    assert admin_client.get(reverse("admin:wxpay_complaints_complaint_reply_image", args=[loose.pk])).status_code == 404
