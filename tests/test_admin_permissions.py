"""Who may send what: adding the bytes of a failed record is a retry, and needs the upload permission.

The decision: the *add* permission lets staff add new images (a new image is
uploaded as it is added). Sending the bytes of an existing failed or abandoned
record again is a retry, like the *Retry upload* button and the action, and
needs the *upload* permission; without it the add view reports the existing
record and its failure and sends nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from django_wxpay_media import conf, services
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.outcome import UploadState
from tests.grants import sees_every_merchant

from .admin_helpers import ADD, messages_of
from .images import png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

Status = FeedbackImage.Status


@pytest.fixture
def clerk(django_user_model, client):
    """A staff member who may view and add feedback images, but not upload (retry)."""
    user = sees_every_merchant(django_user_model.objects.create_user("clerk", password="pw", is_staff=True))
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="django_wxpay_media", codename__in=["view_feedbackimage", "add_feedbackimage"]
        )
    )
    client.force_login(user)
    return client


def failed_record(sandbox, seed: int) -> FeedbackImage:
    sandbox.add_fault("status", status=400, code="PARAM_ERROR", message="参数错误")
    outcome = services.upload(png_bytes(seed), filename=f"failed-{seed}.png")
    assert outcome.state is UploadState.FAILED
    sandbox.reset()
    return outcome.record


def add(client, seed: int, name: str = "again.png"):
    return client.post(reverse(ADD), {"upload": SimpleUploadedFile(name, png_bytes(seed))}, follow=True)


def test_adding_the_bytes_of_a_failed_record_without_upload_permission_sends_nothing(clerk, wxpay_settings):
    record = failed_record(wxpay_settings, 301)

    response = add(clerk, 301)

    assert wxpay_settings.requests == []
    saved = FeedbackImage.objects.get()
    assert (saved.pk, saved.status, saved.attempts, saved.error_code) == (record.pk, Status.FAILED, 1, "PARAM_ERROR")
    [message] = messages_of(response)
    assert "could not be uploaded to WeChat Pay" in message and "参数错误" in message  # its failure
    assert "A colleague allowed to upload can retry it" in message
    assert not LogEntry.objects.exists()  # nothing was added
    assert response.redirect_chain[-1][0] == reverse("admin:django_wxpay_media_feedbackimage_change", args=[record.pk])


def test_adding_the_bytes_of_an_abandoned_upload_without_upload_permission_sends_nothing(clerk, wxpay_settings):
    record = services.store(png_bytes(302)).record
    long_ago = timezone.now() - conf.upload_timeout() - timedelta(seconds=1)
    FeedbackImage.objects.filter(pk=record.pk).update(status=Status.UPLOADING, upload_started_at=long_ago)

    response = add(clerk, 302)

    assert wxpay_settings.requests == []
    assert FeedbackImage.objects.get().status == Status.UPLOADING
    [message] = messages_of(response)
    assert "was interrupted and never finished" in message
    assert "A colleague allowed to upload can retry it" in message


@pytest.mark.django_db(transaction=True)
def test_adding_the_bytes_of_a_failed_record_with_upload_permission_retries(admin_client, wxpay_settings):
    record = failed_record(wxpay_settings, 303)

    response = add(admin_client, 303)

    saved = FeedbackImage.objects.get()
    assert (saved.pk, saved.status, saved.attempts) == (record.pk, Status.UPLOADED, 2)
    assert saved.media_id == wxpay_settings.uploads[0].media_id
    assert "was uploaded to WeChat Pay" in messages_of(response)[0]


@pytest.mark.django_db(transaction=True)
def test_a_new_image_is_uploaded_with_the_add_permission_alone(clerk, wxpay_settings):
    response = add(clerk, 304, "new.png")

    saved = FeedbackImage.objects.get()
    assert saved.status == Status.UPLOADED and len(wxpay_settings.uploads) == 1
    assert "was uploaded to WeChat Pay" in messages_of(response)[0]
    assert LogEntry.objects.filter(object_id=str(saved.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_pending_record_is_uploaded_with_the_add_permission_alone(clerk, wxpay_settings):
    """A pending record was never sent (e.g. stored by a form whose upload had not run yet): not a retry."""
    record = services.store(png_bytes(305)).record

    add(clerk, 305)

    saved = FeedbackImage.objects.get()
    assert (saved.pk, saved.status, saved.attempts) == (record.pk, Status.UPLOADED, 1)
