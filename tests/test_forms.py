"""FeedbackImageField / FeedbackImagesField: validation before any request, upload in clean()."""

from __future__ import annotations

import pytest
from django import forms
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import translation
from django.utils.datastructures import MultiValueDict
from hypothesis import assume, given
from hypothesis import strategies as st

from django_wxpay_media import services, signals, texts
from django_wxpay_media.forms import (
    FeedbackImageField,
    FeedbackImageFormMixin,
    FeedbackImagesField,
    MultipleFeedbackImageInput,
)
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.outcome import UploadState
from django_wxpay_media.wechatpay import MAX_IMAGE_SIZE
from tests.helpers import fuzz

from .images import big_png, bmp_bytes, jpeg_bytes, png_bytes, stored_files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


class OneImageForm(FeedbackImageFormMixin, forms.Form):
    image = FeedbackImageField()


class OptionalImageForm(forms.Form):
    image = FeedbackImageField(required=False)


class ValidateOnlyForm(forms.Form):
    image = FeedbackImageField(upload=False)


class ImagesForm(FeedbackImageFormMixin, forms.Form):
    images = FeedbackImagesField()


class OptionalImagesForm(forms.Form):
    images = FeedbackImagesField(required=False)


class TwoImagesForm(forms.Form):
    images = FeedbackImagesField(max_files=2)


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def files(name: str, *uploads: SimpleUploadedFile) -> MultiValueDict:
    return MultiValueDict({name: list(uploads)})


def error_codes(form: forms.Form, field: str) -> list[str]:
    return [error.code for error in form.errors.as_data()[field]]


# -- one image -----------------------------------------------------------------------


class CountingUpload(SimpleUploadedFile):
    """An upload that counts the bytes read from it."""

    read_bytes = 0

    def read(self, *args):
        data = super().read(*args)
        self.read_bytes += len(data)
        return data


@pytest.mark.parametrize("form_class", [OneImageForm, ImagesForm], ids=["one", "several"])
def test_each_file_is_read_and_validated_once(wxpay_settings, form_class):
    """The field's check gives the prepared image that is stored and sent: the file is read once."""
    data = png_bytes(90)
    file = CountingUpload("once.png", data, content_type="image/png")
    name = "image" if form_class is OneImageForm else "images"
    form = form_class(data={}, files=files(name, file))

    assert form.is_valid(), form.errors
    assert file.read_bytes == len(data)
    [sent] = wxpay_settings.uploads
    assert sent.data == data and FeedbackImage.objects.get().status == FeedbackImage.Status.UPLOADED


def test_valid_png_is_uploaded_and_cleaned_to_the_record(wxpay_settings, django_user_model):
    user = django_user_model.objects.create_user("agent", password="x")
    form = OneImageForm(data={}, files={"image": upload("receipt.png", png_bytes(1))}, user=user)

    assert form.is_valid(), form.errors
    image = form.cleaned_data["image"]
    assert isinstance(image, FeedbackImage)
    assert image.status == FeedbackImage.Status.UPLOADED
    [sent] = wxpay_settings.uploads
    assert image.media_id == sent.media_id
    assert sent.data == png_bytes(1)
    assert image.uploaded_by == user


@pytest.mark.parametrize(("name", "data"), [("photo.jpeg", jpeg_bytes(2)), ("scan.BMP", bmp_bytes(3))])
def test_jpeg_and_bmp_are_accepted(wxpay_settings, name, data):
    form = OneImageForm(data={}, files={"image": upload(name, data)})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["image"].media_id == wxpay_settings.uploads[0].media_id


def test_same_bytes_twice_give_the_same_record_and_one_request(wxpay_settings):
    first = OneImageForm(data={}, files={"image": upload("a.png", png_bytes(4))})
    second = OneImageForm(data={}, files={"image": upload("b.png", png_bytes(4))})

    assert first.is_valid() and second.is_valid()
    assert first.cleaned_data["image"].pk == second.cleaned_data["image"].pk
    assert len(wxpay_settings.uploads) == 1


def test_required_field_without_file_is_an_error(wxpay_settings):
    form = OneImageForm(data={}, files={})

    assert not form.is_valid()
    assert error_codes(form, "image") == ["required"]
    assert wxpay_settings.requests == []


def test_optional_field_without_file_cleans_to_none(wxpay_settings):
    form = OptionalImageForm(data={}, files={})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["image"] is None
    assert wxpay_settings.requests == []


def test_empty_file_is_refused_before_sending(wxpay_settings):
    form = OneImageForm(data={}, files={"image": upload("empty.png", b"")})

    assert not form.is_valid()
    assert error_codes(form, "image") == ["empty"]
    assert "“empty.png” is empty." in form.errors["image"]
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


def test_text_named_jpg_is_refused_before_sending(wxpay_settings):
    form = OneImageForm(data={}, files={"image": upload("notes.jpg", b"just some text, not a picture")})

    assert not form.is_valid()
    [error] = form.errors.as_data()["image"]
    assert error.code == "unsupported_format"
    assert error.params == {"filename": "notes.jpg"}
    assert "“notes.jpg” is not a JPEG, PNG or BMP image" in form.errors["image"][0]
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


def test_too_large_file_is_refused_before_sending(wxpay_settings):
    form = OneImageForm(data={}, files={"image": upload("huge.png", big_png(MAX_IMAGE_SIZE + 1))})

    assert not form.is_valid()
    [error] = form.errors.as_data()["image"]
    assert error.code == "file_too_large"
    assert error.params["max_size"] == "2.0\xa0MB"
    assert "WeChat Pay accepts images of at most 2.0\xa0MB" in form.errors["image"][0]
    assert wxpay_settings.requests == []


def test_file_of_exactly_the_limit_is_accepted(wxpay_settings):
    form = OneImageForm(data={}, files={"image": upload("edge.png", big_png(MAX_IMAGE_SIZE))})

    assert form.is_valid(), form.errors
    assert wxpay_settings.uploads[0].size == MAX_IMAGE_SIZE


def test_wechat_error_becomes_a_field_error_and_the_image_is_kept(wxpay_settings):
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="图片文件名不合法")
    form = OneImageForm(data={}, files={"image": upload("evidence.png", png_bytes(5))})

    assert not form.is_valid()
    [error] = form.errors.as_data()["image"]
    assert error.code == "upload_failed"
    assert error.params["error_code"] == "PARAM_ERROR"
    message = form.errors["image"][0]
    assert "“evidence.png” could not be uploaded to WeChat Pay" in message
    assert "图片文件名不合法" in message  # WeChat's own explanation of the bad parameter
    image = FeedbackImage.objects.get()
    assert image.status == FeedbackImage.Status.FAILED
    assert image.error_code == "PARAM_ERROR"
    assert image.file.read() == png_bytes(5)


def test_server_errors_beyond_retries_become_a_field_error(wxpay_settings):
    wxpay_settings.add_fault("status", count=3, status=500, code="SYSTEM_ERROR", message="系统错误")
    form = OneImageForm(data={}, files={"image": upload("a.png", png_bytes(6))})

    assert not form.is_valid()
    assert error_codes(form, "image") == ["upload_failed"]
    assert len(wxpay_settings.requests) == 3  # MAX_RETRIES=2 in the fixture
    assert FeedbackImage.objects.get().status == FeedbackImage.Status.FAILED


def test_resubmitting_after_a_failure_finishes_the_same_record(wxpay_settings):
    wxpay_settings.add_fault("status", count=3, status=500)
    failed = OneImageForm(data={}, files={"image": upload("a.png", png_bytes(7))})
    assert not failed.is_valid()

    again = OneImageForm(data={}, files={"image": upload("a.png", png_bytes(7))})

    assert again.is_valid(), again.errors
    image = again.cleaned_data["image"]
    assert image.status == FeedbackImage.Status.UPLOADED
    assert FeedbackImage.objects.count() == 1


def test_missing_settings_are_a_polite_field_error(settings):
    settings.WXPAY_MEDIA = {}
    form = OneImageForm(data={}, files={"image": upload("a.png", png_bytes(8))})

    assert not form.is_valid()
    assert error_codes(form, "image") == ["not_configured"]
    assert "contact your administrator" in form.errors["image"][0]
    assert not FeedbackImage.objects.exists()


class FullDiskStorage(FileSystemStorage):
    """A storage whose disk is full: saving fails the way a real one does (OSError)."""

    def _save(self, name, content):
        raise OSError(28, "No space left on device")


def test_storage_failure_is_a_field_error(wxpay_settings, settings):
    settings.STORAGES = {**settings.STORAGES, "full": {"BACKEND": "tests.test_forms.FullDiskStorage"}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "STORAGE": "full"}
    form = OneImageForm(data={}, files={"image": upload("a.png", png_bytes(70))})

    assert not form.is_valid()
    assert error_codes(form, "image") == ["storage_error"]
    assert "“a.png” could not be stored on this site" in form.errors["image"][0]
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


def test_upload_false_only_validates(wxpay_settings):
    good = ValidateOnlyForm(data={}, files={"image": upload("a.png", png_bytes(9))})
    bad = ValidateOnlyForm(data={}, files={"image": upload("a.png", b"GIF89a....")})

    assert good.is_valid()
    assert good.cleaned_data["image"].name == "a.png"
    assert not bad.is_valid()
    assert error_codes(bad, "image") == ["unsupported_format"]
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


def test_custom_error_message(wxpay_settings):
    class Custom(forms.Form):
        image = FeedbackImageField(error_messages={"unsupported_format": "Nope: %(filename)s"})

    form = Custom(data={}, files={"image": upload("x.jpg", b"text")})

    assert not form.is_valid()
    assert form.errors["image"] == ["Nope: x.jpg"]


def test_error_messages_are_translated(wxpay_settings):
    with translation.override("zh-hans"):
        form = OneImageForm(data={}, files={"image": upload("说明.jpg", b"plain text")})
        assert not form.is_valid()
        message = form.errors["image"][0]

    assert "说明.jpg" in message
    assert "不是" in message and "JPEG" in message


def test_disabled_field_keeps_its_initial_value(wxpay_settings):
    class Disabled(forms.Form):
        image = FeedbackImageField(disabled=True, required=False)

    form = Disabled(data={}, files={"image": upload("a.png", png_bytes(10))}, initial={"image": None})

    assert form.is_valid()
    assert form.cleaned_data["image"] is None
    assert wxpay_settings.requests == []


def test_widget_offers_image_files():
    html = str(OneImageForm()["image"])

    assert 'type="file"' in html
    assert 'accept="image/jpeg,image/png,image/bmp,.jpg,.jpeg,.png,.bmp"' in html
    assert "multiple" not in html


# -- several images ----------------------------------------------------------------------


def test_several_images_are_uploaded_in_order(wxpay_settings, django_user_model):
    user = django_user_model.objects.create_user("agent", password="x")
    chosen = [upload("1.png", png_bytes(11)), upload("2.jpg", jpeg_bytes(12)), upload("3.bmp", bmp_bytes(13))]
    form = ImagesForm(data={}, files=files("images", *chosen), user=user)

    assert form.is_valid(), form.errors
    images = form.cleaned_data["images"]
    assert [image.filename for image in images] == ["1.png", "2.jpg", "3.bmp"]
    # Sent CONCURRENCY at a time, so in any order; each record has its own answer.
    sent = {upload.sha256: upload.media_id for upload in wxpay_settings.uploads}
    assert [image.media_id for image in images] == [sent[image.sha256] for image in images]
    assert len(sent) == 3
    assert all(image.uploaded_by == user for image in images)


def test_duplicate_files_in_one_submission_give_one_record(wxpay_settings):
    form = ImagesForm(data={}, files=files("images", upload("a.png", png_bytes(14)), upload("b.png", png_bytes(14))))

    assert form.is_valid(), form.errors
    assert len(form.cleaned_data["images"]) == 1
    assert len(wxpay_settings.uploads) == 1


def test_required_multiple_field_without_files(wxpay_settings):
    form = ImagesForm(data={}, files=MultiValueDict())

    assert not form.is_valid()
    assert error_codes(form, "images") == ["required"]


def test_optional_multiple_field_without_files_is_an_empty_list(wxpay_settings):
    form = OptionalImagesForm(data={}, files=MultiValueDict())

    assert form.is_valid(), form.errors
    assert form.cleaned_data["images"] == []
    assert wxpay_settings.requests == []


def test_more_than_four_files_is_refused_before_sending(wxpay_settings):
    chosen = [upload(f"{seed}.png", png_bytes(seed)) for seed in range(20, 25)]
    form = ImagesForm(data={}, files=files("images", *chosen))

    assert not form.is_valid()
    [error] = form.errors.as_data()["images"]
    assert error.code == "too_many_files"
    assert error.params == {"max": 4, "count": 5}
    assert form.errors["images"] == ["Select at most 4 images (you selected 5)."]
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


def test_four_files_are_accepted(wxpay_settings):
    chosen = [upload(f"{seed}.png", png_bytes(seed)) for seed in range(30, 34)]
    form = ImagesForm(data={}, files=files("images", *chosen))

    assert form.is_valid(), form.errors
    assert len(form.cleaned_data["images"]) == 4


def test_max_files_argument(wxpay_settings):
    chosen = [upload(f"{seed}.png", png_bytes(seed)) for seed in range(40, 43)]
    form = TwoImagesForm(data={}, files=files("images", *chosen))

    assert not form.is_valid()
    assert form.errors.as_data()["images"][0].params == {"max": 2, "count": 3}
    assert wxpay_settings.requests == []


def test_max_files_setting_is_read_when_cleaning(wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "MAX_FILES": 2}
    chosen = [upload(f"{seed}.png", png_bytes(seed)) for seed in range(50, 53)]
    form = ImagesForm(data={}, files=files("images", *chosen))

    assert not form.is_valid()
    assert form.errors["images"] == ["Select at most 2 images (you selected 3)."]


def test_invalid_max_files_argument():
    with pytest.raises(ValueError, match="max_files must be at least 1"):
        FeedbackImagesField(max_files=0)


def test_one_bad_file_means_nothing_is_sent(wxpay_settings):
    chosen = [upload("good.png", png_bytes(60)), upload("bad.jpg", b"not an image"), upload("empty.bmp", b"")]
    form = ImagesForm(data={}, files=files("images", *chosen))

    assert not form.is_valid()
    assert error_codes(form, "images") == ["unsupported_format", "empty"]
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


def test_too_large_one_of_several(wxpay_settings):
    chosen = [upload("good.png", png_bytes(61)), upload("big.png", big_png(MAX_IMAGE_SIZE + 10))]
    form = ImagesForm(data={}, files=files("images", *chosen))

    assert not form.is_valid()
    assert error_codes(form, "images") == ["file_too_large"]
    assert wxpay_settings.requests == []


def test_wechat_error_on_one_of_several(wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": 1}  # the fault hits the first upload
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="文件名不合法")
    chosen = [upload("first.png", png_bytes(62)), upload("second.png", png_bytes(63))]
    form = ImagesForm(data={}, files=files("images", *chosen))

    assert not form.is_valid()
    [error] = form.errors.as_data()["images"]
    assert error.code == "upload_failed"
    assert error.params["filename"] == "first.png"
    statuses = dict(FeedbackImage.objects.values_list("filename", "status"))
    assert statuses == {"first.png": "failed", "second.png": "uploaded"}


def test_multiple_widget():
    field = FeedbackImagesField()
    html = str(OptionalImagesForm()["images"])

    assert isinstance(field.widget, MultipleFeedbackImageInput)
    assert "multiple" in html
    assert field.has_changed([], []) is False
    assert field.has_changed([], [upload("a.png", png_bytes(1))]) is True


# -- inside a transaction: stored while cleaning, uploaded after the commit -------------------


def test_inside_a_transaction_the_upload_waits_for_the_commit(wxpay_settings):
    seen: list = []
    finished: list = []

    def on_finished(sender, outcomes, **kwargs):
        finished.append(outcomes)

    signals.uploads_finished.connect(on_finished)
    try:
        with transaction.atomic():
            form = ImagesForm(
                data={}, files=files("images", upload("a.png", png_bytes(70)), upload("b.png", png_bytes(71)))
            )
            assert form.is_valid(), form.errors
            records = form.cleaned_data["images"]
            assert [r.status for r in records] == [FeedbackImage.Status.PENDING] * 2
            assert [o.state for o in form.upload_outcomes()] == [UploadState.QUEUED] * 2
            assert not form.uploads_done
            form.on_uploads_done(seen.append)
            assert wxpay_settings.requests == [] and seen == []  # nothing sent inside the transaction
    finally:
        signals.uploads_finished.disconnect(on_finished)
    [outcomes] = seen
    assert [(o.state, o.record.pk) for o in outcomes] == [(UploadState.SENT, r.pk) for r in records]
    assert finished == [outcomes]
    assert form.uploads_done and form.upload_outcomes() == outcomes
    assert [r.status for r in records] == [FeedbackImage.Status.UPLOADED] * 2  # the records, updated in place
    assert len(wxpay_settings.uploads) == 2


def test_a_rollback_sends_nothing(wxpay_settings):
    seen: list = []

    def view() -> None:
        with transaction.atomic():
            form = OneImageForm(data={}, files={"image": upload("r.png", png_bytes(72))})
            assert form.is_valid()
            form.on_uploads_done(seen.append)
            raise RuntimeError("the view failed")

    with pytest.raises(RuntimeError, match="the view failed"):
        view()
    assert seen == [] and wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


def test_a_failure_after_the_commit_is_an_outcome_not_a_field_error(wxpay_settings):
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="文件名不合法")
    seen: list = []
    with transaction.atomic():
        form = OneImageForm(data={}, files={"image": upload("late.png", png_bytes(73))})
        assert form.is_valid(), form.errors
        form.on_uploads_done(seen.append)
    [[outcome]] = seen
    assert (outcome.state, outcome.code) == (UploadState.FAILED, "PARAM_ERROR")
    assert outcome.filename == "late.png"
    assert "文件名不合法" in texts.outcome_message(outcome)
    assert FeedbackImage.objects.get().status == FeedbackImage.Status.FAILED


def test_already_uploaded_bytes_are_reused_at_once_inside_a_transaction(wxpay_settings):
    services.upload_image(png_bytes(74))
    seen: list = []
    with transaction.atomic():
        form = OneImageForm(data={}, files={"image": upload("again.png", png_bytes(74))})
        assert form.is_valid()
        form.on_uploads_done(seen.append)
        [[outcome]] = seen  # nothing to wait for
    assert outcome.state is UploadState.REUSED
    assert len(wxpay_settings.uploads) == 1


def test_a_bad_file_inside_a_transaction_stores_nothing(wxpay_settings, media_root):
    with transaction.atomic():
        form = ImagesForm(data={}, files=files("images", upload("ok.png", png_bytes(75)), upload("x.png", b"text")))
        assert not form.is_valid()
    assert error_codes(form, "images") == ["unsupported_format"]
    assert not FeedbackImage.objects.exists() and stored_files(media_root) == []
    assert wxpay_settings.requests == []


# -- hostile input ---------------------------------------------------------------------------


@fuzz(150)
@given(
    name=st.text(min_size=0, max_size=300),
    data=st.one_of(
        st.binary(max_size=64),
        st.builds(
            lambda head, tail: head + tail,
            st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM"]),
            st.binary(max_size=64),
        ),
    ),
)
def test_any_name_and_bytes_give_a_field_error_or_a_valid_file(wxpay_settings, name, data):
    field = FeedbackImageField(upload=False)
    try:
        file = SimpleUploadedFile(name, data) if name else None
    except SuspiciousFileOperation:
        assume(False)  # such a name never gets past Django's upload handling
    try:
        cleaned = field.clean(file)
    except forms.ValidationError as exc:
        assert all(error.code for error in exc.error_list)
        assert all("%(" not in message for message in exc.messages)
    else:
        assert cleaned is not None and cleaned.read() == data
    assert wxpay_settings.requests == []


@pytest.mark.parametrize(
    ("data", "english", "chinese"),
    [
        (png_bytes(3)[:20], "The image is incomplete", "图片不完整"),
        (png_bytes(3)[:8] + b"\x00" * 40, "The image is damaged", "图片已损坏"),
    ],
)
def test_a_broken_image_is_explained_in_the_staff_members_language(wxpay_settings, data, english, chinese):
    form = OneImageForm(data={}, files={"image": upload("broken.png", data)})
    assert not form.is_valid()
    assert error_codes(form, "image") == ["invalid_image"]
    assert english in form.errors["image"][0]
    with translation.override("zh-hans"):
        form = OneImageForm(data={}, files={"image": upload("broken.png", data)})
        assert not form.is_valid()
        assert chinese in form.errors["image"][0]
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()
