"""models.py (and apps.py, the migration): the FeedbackImage record."""

from __future__ import annotations

import datetime
import hashlib
import re

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import IntegrityError, models, transaction
from django.utils import translation

from django_wxpay_media.models import FeedbackImage

Status = FeedbackImage.Status


def make(**fields) -> FeedbackImage:
    data = fields.pop("data", b"\x89PNG\r\n\x1a\n" + fields.get("filename", "x").encode())
    values = {
        "filename": "x.png",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "image/png",
        "mchid": "1900000001",
        **fields,
    }
    image = FeedbackImage(**values)
    image.file.save(values["filename"], ContentFile(data), save=False)
    image.save()
    return image


pytestmark = pytest.mark.usefixtures("media_root")


def test_app_config():
    config = apps.get_app_config("django_wxpay_media")
    assert config.default_auto_field == "django.db.models.BigAutoField"
    assert isinstance(FeedbackImage._meta.pk, models.BigAutoField)
    with translation.override("zh-hans"):
        assert str(config.verbose_name) != "WeChat Pay feedback images"


def test_every_field_explains_itself():
    fields = [f for f in FeedbackImage._meta.get_fields() if f.concrete and not f.primary_key]
    assert {f.name for f in fields} >= {
        "file",
        "filename",
        "sha256",
        "size",
        "content_type",
        "mchid",
        "media_id",
        "status",
        "error_code",
        "error_message",
        "request_id",
        "attempts",
        "created_at",
        "uploaded_at",
        "uploaded_by",
    }
    for field in fields:
        english = (str(field.verbose_name), str(field.help_text))
        assert english[1], f"{field.name} has no help_text"
        with translation.override("zh-hans"):
            assert str(field.verbose_name) != english[0], f"{field.name} has no zh_Hans verbose_name"
            assert str(field.help_text) != english[1], f"{field.name} has no zh_Hans help_text"


def test_status_labels_are_translated():
    with translation.override("zh-hans"):
        labels = [str(label) for label in Status.labels]
    assert labels != ["Pending", "Uploading", "Uploaded", "Failed"]
    assert len(set(labels)) == 4


@pytest.mark.django_db
def test_str_is_readable():
    image = make(filename="receipt.png", status=Status.UPLOADED, media_id="M.png")
    assert str(image) == "receipt.png (Uploaded)"
    with translation.override("zh-hans"):
        text = str(image)
    assert "receipt.png" in text and "Uploaded" not in text


@pytest.mark.django_db
def test_queryset_helpers():
    pending = make(filename="p.png")
    uploading = make(filename="u.png", status=Status.UPLOADING)
    uploaded = make(filename="d.png", status=Status.UPLOADED, media_id="M")
    failed = make(filename="f.png", status=Status.FAILED, error_code="SYSTEM_ERROR")
    assert list(FeedbackImage.objects.pending()) == [pending]
    assert list(FeedbackImage.objects.uploading()) == [uploading]
    assert list(FeedbackImage.objects.uploaded()) == [uploaded]
    assert list(FeedbackImage.objects.failed()) == [failed]
    assert list(FeedbackImage.objects.filter(filename__startswith="f").failed()) == [failed]
    assert uploaded.is_uploaded and not failed.is_uploaded


@pytest.mark.django_db
def test_one_record_per_merchant_and_content():
    first = make(filename="a.png", data=b"same bytes")
    make(filename="b.png", data=b"same bytes", mchid="1900000002")  # another merchant: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        make(filename="c.png", data=b"same bytes")
    assert FeedbackImage.objects.filter(sha256=first.sha256).count() == 2


@pytest.mark.django_db
def test_sha256_is_stored_lower_case():
    image = make(sha256="AB" * 32)
    image.refresh_from_db()
    assert image.sha256 == "ab" * 32


@pytest.mark.django_db
def test_defaults():
    image = make()
    assert (image.status, image.attempts, image.media_id, image.error_code) == (Status.PENDING, 0, "", "")
    assert image.created_at is not None and image.uploaded_at is None and image.upload_started_at is None


@pytest.mark.django_db
def test_deleting_the_user_keeps_the_image(django_user_model):
    user = django_user_model.objects.create_user("staff")
    image = make(uploaded_by=user)
    assert list(user.wxpay_feedback_images.all()) == [image]
    user.delete()
    image.refresh_from_db()
    assert image.uploaded_by is None


@pytest.mark.django_db
def test_upload_permission_exists():
    assert ("upload_feedbackimage", "Can upload feedback images to WeChat Pay") in [
        (codename, str(name)) for codename, name in FeedbackImage._meta.permissions
    ]
    assert Permission.objects.filter(
        codename="upload_feedbackimage", content_type__app_label="django_wxpay_media"
    ).exists()


@pytest.mark.django_db
def test_files_go_where_upload_to_says(settings, media_root):
    settings.WXPAY_MEDIA = {"UPLOAD_TO": "evidence/%Y/"}
    image = make(filename="where.png")
    year = datetime.datetime.now().year  # noqa: DTZ005 - upload_to expands naive local time, as FileField
    folder, name = image.file.name.rsplit("/", 1)
    assert folder == f"evidence/{year}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}\.png", name)  # random, not the name sent
    assert (media_root / image.file.name).exists()


@pytest.mark.django_db
def test_default_upload_to(media_root):
    image = make(filename="default.png")
    assert image.file.name.startswith(datetime.datetime.now().strftime("wxpay_media/%Y/%m/"))  # noqa: DTZ005 - as upload_to
    assert image.file.name.endswith(".png") and "default" not in image.file.name


@pytest.mark.django_db
def test_files_go_to_the_configured_storage(settings, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(elsewhere)}},
    }
    settings.WXPAY_MEDIA = {"STORAGE": "evidence", "UPLOAD_TO": ""}
    image = make(filename="stored.png")
    assert (elsewhere / image.file.name).exists()
    with image.file.open("rb") as fh:
        assert fh.read().startswith(b"\x89PNG")


@pytest.mark.django_db
def test_migrations_match_the_models():
    # Settings (storage, upload_to) must not leak into migrations either.
    call_command("makemigrations", "django_wxpay_media", "--check", "--dry-run", verbosity=0)
