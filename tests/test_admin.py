"""FeedbackImageAdmin through the test client, with the sandbox as WeChat Pay."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from django_wxpay_media import services
from django_wxpay_media.admin import file_url
from django_wxpay_media.models import FeedbackImage
from tests.grants import sees_every_merchant

from .admin_helpers import ADD, CHANGELIST, change_url, failed_image, messages_of, pending_image, upload_url
from .images import bmp_bytes, jpeg_bytes, png_bytes

pytestmark = pytest.mark.django_db

Status = FeedbackImage.Status


@pytest.fixture
def staff_without_upload(django_user_model, client):
    """A staff member who may view and add feedback images, but not upload."""
    user = sees_every_merchant(django_user_model.objects.create_user("clerk", password="pw", is_staff=True))
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="django_wxpay_media",
            codename__in=["view_feedbackimage", "add_feedbackimage"],
        )
    )
    client.force_login(user)
    return client


# -- the list ----------------------------------------------------------------------------


def test_changelist_shows_thumbnail_size_status_and_media_id(admin_client, wxpay_settings):
    uploaded = services.upload_image(png_bytes(1), filename="receipt.png")
    failed = failed_image(wxpay_settings, 2)

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<img src="{file_url(uploaded)}" alt="receipt.png"' in html
    assert "receipt.png" in html and failed.filename in html
    assert uploaded.media_id[:23] in html
    assert "Uploaded" in html and "Failed" in html
    assert f"{uploaded.size}\xa0bytes" in html
    assert "Upload to WeChat Pay" in html  # the action, for a superuser


def test_thumbnail_url_serves_the_stored_file(admin_client, wxpay_settings):
    image = services.upload_image(bmp_bytes(3), filename="scan.bmp")

    response = admin_client.get(file_url(image))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/bmp"
    assert b"".join(response.streaming_content) == bmp_bytes(3)


def test_search_by_sha256_prefix_and_filter_by_status(admin_client, wxpay_settings):
    wanted = services.upload_image(png_bytes(4), filename="wanted.png")
    services.upload_image(png_bytes(5), filename="other.png")
    failed_image(wxpay_settings, 6, "broken.png")

    by_hash = admin_client.get(reverse(CHANGELIST), {"q": wanted.sha256[:12]})
    by_status = admin_client.get(reverse(CHANGELIST), {"status__exact": "failed"})

    assert [image.pk for image in by_hash.context["cl"].result_list] == [wanted.pk]
    assert [image.filename for image in by_status.context["cl"].result_list] == ["broken.png"]


# -- adding = uploading -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_add_good_png_uploads_it(admin_client, admin_user, wxpay_settings):
    response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("收据.png", png_bytes(10))})

    assert response.status_code == 302
    assert response.url == reverse(CHANGELIST)
    image = FeedbackImage.objects.get()
    [sent] = wxpay_settings.uploads
    assert image.status == Status.UPLOADED
    assert image.media_id == sent.media_id
    assert sent.filename == "收据.png"
    assert image.uploaded_by == admin_user
    assert LogEntry.objects.filter(object_id=str(image.pk)).exists()
    page = admin_client.get(response.url)
    assert f"“收据.png” was uploaded to WeChat Pay. Its media_id is {sent.media_id}." in messages_of(page)


def test_add_and_continue_goes_to_the_record(admin_client, wxpay_settings):
    response = admin_client.post(
        reverse(ADD), {"upload": SimpleUploadedFile("a.jpg", jpeg_bytes(11)), "_continue": "1"}
    )

    assert response.status_code == 302
    assert response.url == change_url(FeedbackImage.objects.get())


def test_add_same_bytes_again_reuses_the_record(admin_client, wxpay_settings):
    first = services.upload_image(png_bytes(12), filename="first.png")

    response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("again.png", png_bytes(12))}, follow=True)

    assert FeedbackImage.objects.get().pk == first.pk
    assert len(wxpay_settings.uploads) == 1
    [message] = messages_of(response)
    assert "already uploaded" in message and first.media_id in message


def test_add_text_file_named_jpg_is_a_form_error(admin_client, wxpay_settings):
    response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("photo.jpg", b"hello, not an image")})

    assert response.status_code == 200
    html = response.content.decode()
    assert "errornote" in html
    assert "“photo.jpg” is not a JPEG, PNG or BMP image" in html
    assert wxpay_settings.requests == []
    assert not FeedbackImage.objects.exists()


def test_add_without_a_file_is_a_form_error(admin_client, wxpay_settings):
    response = admin_client.post(reverse(ADD), {})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["upload"] == ["This field is required."]
    assert wxpay_settings.requests == []


def test_add_with_missing_settings_is_a_form_error_not_a_crash(admin_client, settings):
    settings.WXPAY_MEDIA = {}

    response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(9))})

    assert response.status_code == 200
    assert "Uploading to WeChat Pay is not set up correctly on this site" in response.content.decode()
    assert not FeedbackImage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_add_wechat_error_keeps_the_failed_record_and_shows_why(admin_client, wxpay_settings):
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="文件名不合法")

    response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("evidence.png", png_bytes(13))})

    image = FeedbackImage.objects.get()
    assert response.status_code == 302
    assert response.url == change_url(image)
    assert image.status == Status.FAILED
    assert image.error_code == "PARAM_ERROR"
    assert image.file.read() == png_bytes(13)  # nothing is lost
    page = admin_client.get(response.url)
    assert page.status_code == 200
    [message] = messages_of(page)
    assert "“evidence.png” could not be uploaded to WeChat Pay" in message
    assert "文件名不合法" in message
    assert "Retry upload" in message
    html = page.content.decode()
    assert "Retry upload" in html  # the button
    assert f'action="{upload_url(image)}"' in html


@pytest.mark.django_db(transaction=True)
def test_add_server_errors_beyond_retries_then_retry_button(admin_client, wxpay_settings):
    wxpay_settings.add_fault("status", count=3, status=500, code="SYSTEM_ERROR", message="系统繁忙")

    response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("late.png", png_bytes(14))}, follow=True)

    assert response.status_code == 200
    assert len(wxpay_settings.requests) == 3
    image = FeedbackImage.objects.get()
    assert image.status == Status.FAILED
    assert "temporary system error" in messages_of(response)[0]

    retried = admin_client.post(upload_url(image), follow=True)

    image.refresh_from_db()
    assert image.status == Status.UPLOADED
    assert image.media_id == wxpay_settings.uploads[0].media_id
    assert f"“late.png” was uploaded to WeChat Pay. Its media_id is {image.media_id}." in messages_of(retried)


def test_failed_retry_reports_again(admin_client, wxpay_settings):
    image = failed_image(wxpay_settings, 15)
    wxpay_settings.add_fault("status", status=403, code="NO_AUTH", message="商户无权限")

    response = admin_client.post(upload_url(image), follow=True)

    assert "not allowed to upload feedback images" in messages_of(response)[0]
    image.refresh_from_db()
    assert image.status == Status.FAILED and image.error_code == "NO_AUTH"


def test_retry_button_needs_post_and_permission(admin_client, staff_without_upload, wxpay_settings):
    image = failed_image(wxpay_settings, 16)
    wxpay_settings.reset()

    assert admin_client.get(upload_url(image)).status_code == 405
    assert staff_without_upload.post(upload_url(image)).status_code == 403
    page = staff_without_upload.get(change_url(image))
    assert page.status_code == 200
    assert "Retry upload" not in page.content.decode()
    assert wxpay_settings.requests == []


def test_retry_of_an_uploaded_image_sends_nothing(admin_client, wxpay_settings):
    image = services.upload_image(png_bytes(17), filename="done.png")

    response = admin_client.post(upload_url(image), follow=True)

    assert "already uploaded" in messages_of(response)[0]
    assert len(wxpay_settings.requests) == 1


def test_retry_of_an_image_being_uploaded_sends_nothing(admin_client, wxpay_settings):
    busy = pending_image(wxpay_settings, 88)
    FeedbackImage.objects.filter(pk=busy.pk).update(status=Status.UPLOADING, upload_started_at=timezone.now())

    response = admin_client.post(upload_url(busy), follow=True)

    assert "is being uploaded right now" in messages_of(response)[0]
    assert wxpay_settings.requests == []


def test_change_page_is_a_read_only_view_with_preview(admin_client, wxpay_settings):
    image = services.upload_image(png_bytes(18), filename="view.png")

    response = admin_client.get(change_url(image))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<img src="{file_url(image)}" alt="view.png"' in html
    assert image.media_id in html and image.sha256 in html
    assert 'type="file"' not in html
    assert 'name="_save"' not in html
    assert "Retry upload" not in html  # uploaded already


def test_posting_to_the_change_page_changes_nothing(admin_client, wxpay_settings):
    image = services.upload_image(png_bytes(19), filename="keep.png")

    response = admin_client.post(change_url(image), {"media_id": "forged", "status": "failed"})

    assert response.status_code == 403
    image.refresh_from_db()
    assert image.status == Status.UPLOADED and image.media_id != "forged"


# -- the action ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_action_uploads_pending_and_failed_and_skips_uploaded(admin_client, wxpay_settings):
    pending = pending_image(wxpay_settings, 20)
    failed = failed_image(wxpay_settings, 21)
    done = services.upload_image(png_bytes(22), filename="done.png")
    wxpay_settings.reset()

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "upload_selected", "_selected_action": [pending.pk, failed.pk, done.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert messages_of(response) == [
        "2 images were uploaded to WeChat Pay.",
        "1 image was skipped: it is already uploaded.",
    ]
    assert len(wxpay_settings.uploads) == 2
    for image in (pending, failed):
        image.refresh_from_db()
        assert image.status == Status.UPLOADED
    assert {pending.media_id, failed.media_id} == {sent.media_id for sent in wxpay_settings.uploads}


@pytest.mark.django_db(transaction=True)
def test_action_reports_failures_with_reasons(admin_client, wxpay_settings):
    first = pending_image(wxpay_settings, 23, "first.png")
    second = pending_image(wxpay_settings, 24, "second.png")
    wxpay_settings.add_fault("status", count=6, status=500, code="SYSTEM_ERROR", message="系统错误")

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "upload_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    [message] = messages_of(response)
    assert message.startswith("2 images could not be uploaded to WeChat Pay: WeChat Pay had a temporary system error.")
    assert "first.png" in message and "second.png" in message
    assert set(FeedbackImage.objects.values_list("status", flat=True)) == {Status.FAILED}


@pytest.mark.django_db(transaction=True)
def test_action_with_one_success_and_one_failure(admin_client, wxpay_settings, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": 1}  # the first upload meets the fault
    first = pending_image(wxpay_settings, 25, "first.png")
    second = pending_image(wxpay_settings, 26, "second.png")
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="文件名不合法")

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "upload_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert messages_of(response) == [
        "1 image was uploaded to WeChat Pay.",
        (
            "1 image could not be uploaded to WeChat Pay: WeChat Pay rejected a parameter of the upload: "
            "文件名不合法 (first.png)"
        ),
    ]


@pytest.mark.django_db(transaction=True)
def test_action_outside_a_transaction_uploads_every_image(admin_client, wxpay_settings):
    # No test transaction here, so the service may use its CONCURRENCY worker threads.
    images = [pending_image(wxpay_settings, seed) for seed in range(80, 86)]

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "upload_selected", "_selected_action": [image.pk for image in images]},
        follow=True,
    )

    assert messages_of(response) == ["6 images were uploaded to WeChat Pay."]
    assert sorted(sent.sha256 for sent in wxpay_settings.uploads) == sorted(image.sha256 for image in images)
    assert set(FeedbackImage.objects.values_list("status", flat=True)) == {Status.UPLOADED}


def test_action_skips_an_image_being_uploaded(admin_client, wxpay_settings):
    busy = pending_image(wxpay_settings, 87)
    FeedbackImage.objects.filter(pk=busy.pk).update(status=Status.UPLOADING, upload_started_at=timezone.now())

    response = admin_client.post(
        reverse(CHANGELIST), {"action": "upload_selected", "_selected_action": [busy.pk]}, follow=True
    )

    assert messages_of(response) == ["1 image was skipped: it is being uploaded right now."]
    assert wxpay_settings.requests == []


def test_action_is_not_offered_without_the_permission(staff_without_upload, wxpay_settings):
    image = pending_image(wxpay_settings, 27)

    page = staff_without_upload.get(reverse(CHANGELIST))
    refused = staff_without_upload.post(
        reverse(CHANGELIST), {"action": "upload_selected", "_selected_action": [image.pk], "index": "0"}
    )

    assert page.status_code == 200
    assert 'value="upload_selected"' not in page.content.decode()
    assert refused.status_code == 200  # the list again, nothing done
    assert wxpay_settings.requests == []
    image.refresh_from_db()
    assert image.status == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_action_offered_with_only_the_upload_permission(django_user_model, client, wxpay_settings):
    user = sees_every_merchant(django_user_model.objects.create_user("uploader", password="pw", is_staff=True))
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_feedbackimage", "upload_feedbackimage"]))
    client.force_login(user)
    image = pending_image(wxpay_settings, 28)

    page = client.get(reverse(CHANGELIST))
    response = client.post(reverse(CHANGELIST), {"action": "upload_selected", "_selected_action": [image.pk]})

    assert 'value="upload_selected"' in page.content.decode()
    assert response.status_code == 302
    image.refresh_from_db()
    assert image.status == Status.UPLOADED


# -- in Chinese -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["LANGUAGE_CODE", "Accept-Language"])
def test_admin_in_simplified_chinese(admin_client, wxpay_settings, settings, how):
    failed_image(wxpay_settings, 29, "票据.png")
    headers = {}
    if how == "LANGUAGE_CODE":
        settings.LANGUAGE_CODE = "zh-hans"  # a site whose staff read Chinese by default
    else:
        headers["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"

    page = admin_client.get(reverse(CHANGELIST), **headers)
    html = page.content.decode()

    assert page.status_code == 200
    assert "上传到微信支付" in html  # the action
    assert "媒体文件 ID" in html  # a column
    assert "上传失败" in html  # the status
    assert "Upload to WeChat Pay" not in html and "Failed" not in html


@pytest.mark.django_db(transaction=True)
def test_upload_failure_message_in_simplified_chinese(admin_client, wxpay_settings):
    wxpay_settings.add_fault("status", count=3, status=500, code="SYSTEM_ERROR", message="系统错误")

    response = admin_client.post(
        reverse(ADD),
        {"upload": SimpleUploadedFile("证据.png", png_bytes(30))},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
        follow=True,
    )

    [message] = messages_of(response)
    assert "“证据.png”未能上传到微信支付" in message
    assert "重试上传" in message
    html = response.content.decode()
    assert "重试上传" in html  # the button
    assert "最近一次上传到微信支付失败" in html


def test_form_error_in_simplified_chinese(admin_client, wxpay_settings):
    response = admin_client.post(
        reverse(ADD), {"upload": SimpleUploadedFile("a.jpg", b"text")}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert "“a.jpg”不是 JPEG、PNG 或 BMP 图片" in response.content.decode()
    assert wxpay_settings.requests == []


@pytest.mark.parametrize(
    ("code", "request_id", "in_english", "in_chinese"),  # not "english": that is the autouse fixture
    [
        (
            "PARAM_ERROR",
            "REQ-1",
            "(error code PARAM_ERROR, Request-ID REQ-1).",
            "（错误码 PARAM_ERROR，Request-ID REQ-1）。",
        ),
        ("PARAM_ERROR", "", "(error code PARAM_ERROR).", "（错误码 PARAM_ERROR）。"),
        ("", "REQ-2", "(Request-ID REQ-2).", "（Request-ID REQ-2）。"),
        ("", "", "failed: ", "失败："),
    ],
)
def test_the_failure_note_says_only_what_is_known(
    admin_client, wxpay_settings, code, request_id, in_english, in_chinese
):
    image = failed_image(wxpay_settings, 60 + len(code) + len(request_id))
    FeedbackImage.objects.filter(pk=image.pk).update(error_code=code, request_id=request_id)

    html = admin_client.get(change_url(image)).content.decode()
    chinese_html = admin_client.get(change_url(image), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    note = html[html.index('<p class="errornote">') :]
    note = " ".join(note[: note.index("</p>")].split())
    assert in_english in note and "—" not in note and "()" not in note
    assert note.endswith("The image is kept and can be uploaded again.")
    assert in_chinese in chinese_html and "最近一次上传到微信支付失败" in chinese_html


def test_the_recent_actions_read_in_the_language_of_the_reader(admin_client, wxpay_settings):
    admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("feedback-en.png", png_bytes(70))})
    [entry] = LogEntry.objects.all()

    home = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert entry.object_repr == "feedback-en.png"  # no status, in no language
    assert "feedback-en.png" in home and "Uploaded" not in home and "已上传" not in home
    with translation.override("zh-hans"):
        assert entry.get_change_message() == "已添加。"  # JSON, translated when shown
