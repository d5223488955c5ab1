"""Staff's view of the admin in headless Chromium, with the sandbox as WeChat Pay.

Each scenario is what a customer-service colleague does: log in, upload an image,
pick the wrong file, meet a WeChat Pay outage and retry, attach images to a
complaint reply, and read it all in Chinese.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_wxpay_media import services
from django_wxpay_media.exceptions import UploadFailed
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.sandbox.images import rgb_png

from .conftest import PASSWORD, USERNAME

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FEEDBACK_IMAGES = "/admin/django_wxpay_media/feedbackimage/"
COMPLAINT_REPLIES = "/admin/formexample/complaintreply/"


def picture(seed: int, width: int = 160, height: int = 120) -> bytes:
    """A PNG with diagonal colour bands (something to see in a thumbnail), distinct per seed."""

    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            band = ((x + y) // 12 + seed) % 4
            row += bytes(((40 + 60 * band + seed * 37) % 256, (90 + 40 * band) % 256, (200 - 45 * band) % 256))
        rows.append(bytes(row))
    return rgb_png(width, height, rows)


def png_file(name: str, seed: int) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/png", "buffer": picture(seed)}


def expect(*args: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args)


def add_feedback_image(page: Any, file: dict[str, Any]) -> None:
    page.goto(f"{FEEDBACK_IMAGES}add/")
    page.set_input_files("input[name=upload]", files=[file])
    page.click("input[name=_save]")


def test_log_in_through_the_form(new_page, live_server):
    page = new_page(logged_in=False)
    page.goto("/admin/")

    expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")

    expect(page.locator("#site-name")).to_have_text("Django administration")
    expect(page.get_by_role("link", name="Feedback images", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Complaint replies", exact=True)).to_be_visible()


def test_good_image_is_uploaded_and_listed_with_its_media_id(admin_page, wxpay_settings, screenshot):
    page = admin_page

    add_feedback_image(page, png_file("receipt-2024-001.png", 1))

    message = page.locator(".messagelist .success")
    expect(message).to_contain_text("“receipt-2024-001.png” was uploaded to WeChat Pay.")
    [upload] = wxpay_settings.uploads
    expect(message).to_contain_text(f"Its media_id is {upload.media_id}.")
    add_feedback_image(page, png_file("delivery-photo.png", 2))
    page.goto(FEEDBACK_IMAGES)
    row = page.locator("#result_list tbody tr", has_text="receipt-2024-001.png")
    expect(row.locator("td.field-status_badge")).to_have_text("Uploaded")
    expect(row.locator("td.field-short_media_id code")).to_have_attribute("title", upload.media_id)
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    # The thumbnail is the stored file, served back to the browser.
    thumbnail = row.locator("img[alt='receipt-2024-001.png']")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 160
    screenshot(page, "changelist")


def test_text_file_named_jpg_is_refused_on_the_form(admin_page, wxpay_settings, screenshot):
    page = admin_page

    add_feedback_image(
        page, {"name": "invoice.jpg", "mimeType": "image/jpeg", "buffer": b"Invoice 2024-001\nTotal: 88.00\n"}
    )

    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".field-upload .errorlist")).to_contain_text(
        "“invoice.jpg” is not a JPEG, PNG or BMP image; WeChat Pay accepts only these formats."
    )
    assert wxpay_settings.requests == []  # nothing was sent
    assert FeedbackImage.objects.count() == 0  # nothing was stored
    screenshot(page, "add-form-error")


def test_failed_upload_is_kept_and_the_action_uploads_it_later(admin_page, live_server, wxpay_settings, screenshot):
    page = admin_page
    sandbox = wxpay_settings
    sandbox.add_fault("status", count=10, status=500, code="SYSTEM_ERROR", message="系统错误")

    add_feedback_image(page, png_file("refund-proof.png", 3))

    # The record's page: what went wrong, WeChat's code and Request-ID, and a retry button.
    expect(page.locator(".messagelist .error")).to_contain_text(
        "“refund-proof.png” could not be uploaded to WeChat Pay"
    )
    image = FeedbackImage.objects.get()
    assert image.status == FeedbackImage.Status.FAILED
    expect(page).to_have_url(f"{live_server.url}{FEEDBACK_IMAGES}{image.pk}/change/")
    errornote = page.locator("p.errornote")
    expect(errornote).to_contain_text("The latest upload to WeChat Pay failed:")
    expect(errornote).to_contain_text("SYSTEM_ERROR")
    expect(errornote).to_contain_text(image.request_id)
    expect(page.get_by_role("button", name="Retry upload")).to_be_visible()
    expect(page.locator(".field-status_badge .readonly")).to_have_text("Failed")
    screenshot(page, "failed-record", full_page=True)
    assert sandbox.uploads == []

    sandbox.clear_faults()
    page.goto(FEEDBACK_IMAGES)
    row = page.locator("#result_list tbody tr", has_text="refund-proof.png")
    expect(row.locator("td.field-status_badge")).to_have_text("Failed")
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "upload_selected")
    page.click("button[name=index]")

    expect(page.locator(".messagelist .success")).to_have_text("1 image was uploaded to WeChat Pay.")
    [upload] = sandbox.uploads
    row = page.locator("#result_list tbody tr", has_text="refund-proof.png")
    expect(row.locator("td.field-status_badge")).to_have_text("Uploaded")
    expect(row.locator("td.field-short_media_id code")).to_have_attribute("title", upload.media_id)
    image.refresh_from_db()
    assert (image.status, image.media_id) == (FeedbackImage.Status.UPLOADED, upload.media_id)
    screenshot(page, "action-result")


def test_complaint_reply_attaches_three_images(admin_page, wxpay_settings, screenshot):
    page = admin_page
    page.goto(f"{COMPLAINT_REPLIES}add/")
    page.fill("input[name=complaint_id]", "200000020240101000042")
    page.fill("textarea[name=content]", "您好，已为您补发商品，快递单号与签收照片见附图。")

    page.set_input_files(
        "input[name=new_images]",
        files=[png_file("快递单.png", 4), png_file("签收照片.png", 5), png_file("退款凭证.png", 6)],
    )
    page.click("input[name=_save]")

    # The reply is saved, then each image is uploaded (after the commit) and reported.
    success = page.locator(".messagelist .success")
    expect(success).to_have_count(4)
    expect(success.first).to_contain_text("was added successfully")
    # Uploaded CONCURRENCY at a time: they reach WeChat Pay in any order; staff read them in the order chosen.
    arrived = {upload.filename: upload for upload in wxpay_settings.uploads}
    assert sorted(arrived) == sorted(["快递单.png", "签收照片.png", "退款凭证.png"])
    sent = [arrived[name] for name in ("快递单.png", "签收照片.png", "退款凭证.png")]
    for message, upload in zip(success.all()[1:], sent, strict=True):
        expect(message).to_have_text(
            f"“{upload.filename}” was uploaded to WeChat Pay. Its media_id is {upload.media_id}."
        )
    page.get_by_role("link", name="200000020240101000042", exact=True).click()
    figures = page.locator(".field-attached_images figure")
    expect(figures).to_have_count(3)
    expect(figures.locator("figcaption")).to_have_text(["快递单.png", "签收照片.png", "退款凭证.png"])
    expect(page.locator(".field-media_id_list code")).to_have_text([upload.media_id for upload in sent])
    screenshot(page, "complaint-reply", full_page=True)


def test_admin_speaks_chinese_to_a_chinese_browser(new_page, wxpay_settings, screenshot):
    services.upload_image(picture(7), filename="发票.png")
    wxpay_settings.add_fault("status", count=10, status=500, code="SYSTEM_ERROR")
    with pytest.raises(UploadFailed):
        services.upload_image(picture(8), filename="聊天记录.png")
    wxpay_settings.clear_faults()

    page = new_page("zh-CN", logged_in=False)
    page.goto("/admin/login/?next=/admin/")
    expect(page.locator("label[for=id_username]")).to_contain_text("用户名")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    expect(page.get_by_role("link", name="反馈图片", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="投诉回复", exact=True)).to_be_visible()

    page.goto(FEEDBACK_IMAGES)

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("select[name=action] option[value=upload_selected]")).to_have_text("上传到微信支付")
    expect(page.locator("#result_list tbody tr", has_text="发票.png").locator("td.field-status_badge")).to_have_text(
        "已上传"
    )
    expect(
        page.locator("#result_list tbody tr", has_text="聊天记录.png").locator("td.field-status_badge")
    ).to_have_text("上传失败")
    expect(page.locator("#result_list thead")).to_contain_text("媒体文件 ID")
    screenshot(page, "admin-zh-hans")

    page.locator("#result_list a", has_text="聊天记录.png").click()
    expect(page.get_by_role("button", name="重试上传")).to_be_visible()


def test_pages_are_served_under_a_strict_csp_and_violations_are_caught(admin_page, csp_violations):
    page = admin_page
    response = page.goto(FEEDBACK_IMAGES)
    policy = response.headers["content-security-policy"]  # as the browser got it
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy

    # An inline style is refused and reported: the recorder that guards every test works.
    page.evaluate("document.body.setAttribute('style', 'background: red')")
    page.wait_for_function("getComputedStyle(document.body).backgroundColor !== 'rgb(255, 0, 0)'")
    page.reload()  # a round trip to Python, so the report has arrived
    assert any("style-src" in violation for violation in csp_violations)
    csp_violations.clear()  # expected here; any other test fails on one
