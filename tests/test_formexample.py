"""The README's complaint-reply example (tests/formexample): an admin form that attaches uploaded images."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from django_wxpay_media import services
from django_wxpay_media.admin import file_url
from django_wxpay_media.models import FeedbackImage
from tests.formexample.models import ComplaintReply

from .images import bmp_bytes, jpeg_bytes, png_bytes

# The admin saves inside a transaction and uploads after it commits: real commits needed.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

ADD = "admin:formexample_complaintreply_add"


def change_url(reply: ComplaintReply) -> str:
    return reverse("admin:formexample_complaintreply_change", args=(reply.pk,))


def three_files() -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile("收据.png", png_bytes(1)),
        SimpleUploadedFile("delivery.jpg", jpeg_bytes(2)),
        SimpleUploadedFile("scan.bmp", bmp_bytes(3)),
    ]


def test_add_reply_with_three_images(admin_client, admin_user, wxpay_settings):
    response = admin_client.post(
        reverse(ADD),
        {"complaint_id": "200000020231231000001", "content": "已为您补发商品。", "new_images": three_files()},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    reply = ComplaintReply.objects.get()
    assert reply.images.count() == 3
    sent = {upload.filename: upload.media_id for upload in wxpay_settings.uploads}  # CONCURRENCY at a time
    assert len(wxpay_settings.uploads) == 3
    assert reply.media_ids == [sent["收据.png"], sent["delivery.jpg"], sent["scan.bmp"]]
    assert {image.uploaded_by for image in reply.images.all()} == {admin_user}
    # Staff are told each result on the next page.
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    for name in ("收据.png", "delivery.jpg", "scan.bmp"):
        assert f"“{name}” was uploaded to WeChat Pay. Its media_id is {sent[name]}." in shown


def test_add_reply_without_images(admin_client, wxpay_settings):
    response = admin_client.post(reverse(ADD), {"complaint_id": "1", "content": "ok"})

    assert response.status_code == 302
    assert ComplaintReply.objects.get().media_ids == []
    assert wxpay_settings.requests == []


def test_add_reply_with_five_images_is_refused_before_sending(admin_client, wxpay_settings):
    files = [SimpleUploadedFile(f"{seed}.png", png_bytes(seed)) for seed in range(10, 15)]

    response = admin_client.post(reverse(ADD), {"complaint_id": "1", "content": "x", "new_images": files})

    assert response.status_code == 200
    assert "Select at most 4 images (you selected 5)." in response.content.decode()
    assert wxpay_settings.requests == []
    assert not ComplaintReply.objects.exists()
    assert not FeedbackImage.objects.exists()


def test_add_reply_with_a_bad_file_is_refused_before_sending(admin_client, wxpay_settings):
    files = [SimpleUploadedFile("ok.png", png_bytes(20)), SimpleUploadedFile("fake.png", b"<html>no</html>")]

    response = admin_client.post(reverse(ADD), {"complaint_id": "1", "content": "x", "new_images": files})

    assert response.status_code == 200
    assert "“fake.png” is not a JPEG, PNG or BMP image" in response.content.decode()
    assert wxpay_settings.requests == []
    assert not ComplaintReply.objects.exists()


def test_add_reply_with_a_wechat_error_saves_the_reply_and_reports_the_failure(admin_client, wxpay_settings):
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="文件名不合法")

    response = admin_client.post(
        reverse(ADD),
        {"complaint_id": "1", "content": "x", "new_images": [SimpleUploadedFile("a.png", png_bytes(21))]},
        follow=True,
    )

    # The reply and the image were committed before the upload ran; the failure is a message.
    assert response.status_code == 200
    [message] = [m for m in response.context["messages"] if "a.png" in str(m)]
    assert message.level_tag == "error"
    assert "“a.png” could not be uploaded to WeChat Pay" in str(message) and "文件名不合法" in str(message)
    assert "“a.png” could not be uploaded to WeChat Pay" in response.content.decode()
    reply = ComplaintReply.objects.get()
    image = FeedbackImage.objects.get()
    assert image.status == FeedbackImage.Status.FAILED and image.file.read() == png_bytes(21)
    assert list(reply.images.all()) == [image] and reply.media_ids == []

    # Adding the same bytes again (here: to the same reply) retries the kept record.
    again = admin_client.post(
        change_url(reply),
        {
            "complaint_id": "1",
            "content": "x",
            "images": [image.pk],
            "new_images": [SimpleUploadedFile("a.png", png_bytes(21))],
        },
    )
    assert again.status_code == 302
    image.refresh_from_db()
    assert image.status == FeedbackImage.Status.UPLOADED
    assert reply.media_ids == [image.media_id]


def test_change_page_shows_attached_images_and_media_ids(admin_client, wxpay_settings):
    reply = ComplaintReply.objects.create(complaint_id="42", content="x")
    image = services.upload_image(png_bytes(30), filename="shown.png")
    reply.images.add(image)

    response = admin_client.get(change_url(reply))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'<img src="{file_url(image)}" alt="shown.png"' in html
    assert f"<code>{image.media_id}</code>" in html
    assert 'type="file"' in html and "multiple" in html


def test_change_detaches_and_attaches(admin_client, wxpay_settings):
    reply = ComplaintReply.objects.create(complaint_id="42", content="x")
    kept, dropped = (services.upload_image(png_bytes(seed)) for seed in (31, 32))
    reply.images.add(kept, dropped)

    response = admin_client.post(
        change_url(reply),
        {
            "complaint_id": "42",
            "content": "x",
            "images": [kept.pk],
            "new_images": [SimpleUploadedFile("new.jpg", jpeg_bytes(33))],
        },
    )

    assert response.status_code == 302
    assert sorted(image.filename for image in reply.images.all()) == ["image.png", "new.jpg"]
    assert dropped.pk not in reply.images.values_list("pk", flat=True)


def test_change_refuses_more_than_four_in_total(admin_client, wxpay_settings):
    reply = ComplaintReply.objects.create(complaint_id="42", content="x")
    attached = [services.upload_image(png_bytes(seed)) for seed in (40, 41, 42)]
    reply.images.add(*attached)

    response = admin_client.post(
        change_url(reply),
        {
            "complaint_id": "42",
            "content": "x",
            "images": [image.pk for image in attached],
            "new_images": [SimpleUploadedFile(f"{seed}.png", png_bytes(seed)) for seed in (43, 44)],
        },
    )

    assert response.status_code == 200
    assert "A reply carries at most 4 images; it would have 5." in response.content.decode()
    assert reply.images.count() == 3


def test_media_ids_of_an_unsaved_reply():
    assert ComplaintReply(complaint_id="1", content="x").media_ids == []
