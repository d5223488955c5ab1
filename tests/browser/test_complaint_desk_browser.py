"""The complaint desk in headless Chromium, in Chinese, with the sandbox as WeChat Pay.

What the demo shows a newcomer, done by a customer-service colleague whose browser
asks for Chinese: complaints arrive through the notification view (the demo's own
step, :func:`django_wxpay_media.demo.desk.open_desk`), she opens one, looks at the
consumer's pictures, answers with two images, marks it complete and sees its state
change. Every page is served under the strict CSP of ``conftest.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_wxpay_media.complaints.models import Complaint, Reply
from django_wxpay_media.demo import desk

from .test_admin_browser import expect, png_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMPLAINTS = "/admin/wxpay_complaints/complaint/"
REPLY_TEXT = "您好，已为您安排退款，快递单和退款凭证见附图。"


def wait_for_pictures(page: Any, images: Any) -> None:
    """Scroll each image into view (they load lazily) and wait until the browser has decoded it."""
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        image.evaluate(
            "img => img.complete && img.naturalWidth ? null : new Promise((ok, fail) => {"
            " img.addEventListener('load', ok); img.addEventListener('error', () => fail(img.src)); })"
        )
        assert image.evaluate("img => img.naturalWidth") > 0


def test_staff_answer_a_complaint_with_two_images_and_complete_it_in_chinese(
    new_page, live_server, wxpay_settings, screenshot
):
    sandbox = wxpay_settings
    report = desk.open_desk(sandbox, f"{live_server.url}/wxpay/complaints/notify/")
    assert report.problems == [] and report.arrived == report.complaint_ids  # arrived through the view
    complaint_id = report.complaint_ids[0]  # pending, a refund, two pictures
    assert Complaint.objects.get(complaint_id=complaint_id).state == Complaint.State.PENDING

    page = new_page("zh-CN")
    page.goto(COMPLAINTS)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#result_list tbody tr")).to_have_count(len(desk.SEEDS))
    row = page.locator("#result_list tbody tr", has_text=complaint_id)
    expect(row.locator("td.field-state")).to_have_text("待处理")
    expect(row.locator("td.field-flag_labels")).to_contain_text("申请退款")
    row.get_by_role("link", name=complaint_id, exact=True).click()

    # The complaint and the consumer's two pictures (downloaded from WeChat Pay on first view).
    expect(page.locator(".field-state .readonly")).to_have_text("待处理")
    expect(page.locator(".field-detail .readonly")).to_contain_text("付款一周了还没有收到商品")
    pictures = page.locator("fieldset.wxpay-desk", has_text="消费者图片").locator("img")
    expect(pictures).to_have_count(2)
    wait_for_pictures(page, pictures)
    tools = page.locator(".object-tools")
    expect(tools.get_by_role("link", name="标记处理完成", exact=True)).to_have_count(0)  # nothing answered yet

    tools.get_by_role("link", name="回复", exact=True).click()
    expect(page.locator("h1")).to_have_text(f"回复投诉 {complaint_id}")
    page.fill("textarea[name=content]", REPLY_TEXT)
    expect(page.locator(".wxpay-counter")).to_have_text(f"{len(REPLY_TEXT)} / 500")
    page.set_input_files("input[name=images]", files=[png_file("快递单.png", 21), png_file("退款凭证.png", 22)])
    page.get_by_role("button", name="发送回复").click()

    # Uploaded first, then the reply sent: the complaint is being processed.
    expect(page.locator(".messagelist .success")).to_have_text("回复已发送给消费者。")
    expect(page.locator(".field-state .readonly")).to_have_text("处理中")
    sent = page.locator("ol.wxpay-replies > li")
    expect(sent).to_have_count(1)
    expect(sent.locator("strong")).to_have_text("已发送")
    expect(sent).to_contain_text(REPLY_TEXT)
    names = sent.locator("ul.wxpay-thumbnails span")
    expect(names).to_have_count(2)
    # The desk lists a reply's images newest first; WeChat Pay got them in the order chosen (below).
    assert sorted(names.all_inner_texts()) == ["快递单.png", "退款凭证.png"]
    wait_for_pictures(page, sent.locator("img"))
    # Uploaded CONCURRENCY at a time, so they reach WeChat Pay in any order; the reply
    # carries their media_ids in the order staff chose them.
    uploaded = {upload.filename: upload.media_id for upload in sandbox.uploads}
    assert sorted(uploaded) == ["快递单.png", "退款凭证.png"]
    [body] = sandbox.complaint_replies(complaint_id)
    assert body["response_content"] == REPLY_TEXT
    assert body["response_images"] == [uploaded["快递单.png"], uploaded["退款凭证.png"]]

    tools.get_by_role("link", name="标记处理完成", exact=True).click()
    expect(page.locator("#content-main")).to_contain_text(f"确认通知微信支付投诉 {complaint_id} 已处理完成？")
    page.get_by_role("button", name="是，标记处理完成").click()

    expect(page.locator(".messagelist .success")).to_have_text("投诉已标记为处理完成。")
    expect(page.locator(".field-state .readonly")).to_have_text("已处理完成")
    expect(tools.get_by_role("link", name="回复", exact=True)).to_have_count(0)  # a processed complaint takes none
    assert sandbox.complaints[complaint_id]["complaint_state"] == "PROCESSED"
    assert Complaint.objects.get(complaint_id=complaint_id).state == Complaint.State.PROCESSED
    assert Reply.objects.get().state == Reply.State.SENT
    # The history, now loaded, has the merchant's steps, in words with WeChat's code beside them.
    expect(page.locator("ol.wxpay-timeline li", has_text="MERCHANT_CONFIRM_COMPLETE")).to_contain_text(
        "商户反馈处理完成"
    )

    # The desk's sections span the page below the complaint (they were once squeezed beside it).
    content_width = page.locator("#content-main").evaluate("element => element.getBoundingClientRect().width")
    for section in page.locator("fieldset.wxpay-desk").all():
        assert section.evaluate("element => element.getBoundingClientRect().width") > content_width * 0.9

    page.locator("#toggle-nav-sidebar").click()  # the picture shows the page, not the menu
    wait_for_pictures(page, page.locator("fieldset.wxpay-desk img"))
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "complaint-desk-zh-hans", full_page=True)


LEAD = {
    "zh-CN": {
        "lang": "zh-hans",
        "overdue": "已超时",
        "pending_overdue": "待处理，已超时",
        "assign": "分配给我",
        "assigned": "该投诉已分配给你。",
        "reply": "回复",
        "send": "发送回复",
        "sent": "回复已发送给消费者。",
        "clock": "回复截止",
        "screens": "zh-hans",
    },
    "en-US": {
        "lang": "en",
        "overdue": "Overdue",
        "pending_overdue": "Pending, overdue",
        "assign": "Assign to me",
        "assigned": "The complaint is assigned to you.",
        "reply": "Reply",
        "send": "Send reply",
        "sent": "The reply was sent to the consumer.",
        "clock": "Reply due",
        "screens": "en",
    },
}


def count(page: Any, label: str) -> Any:
    """The number of one of the desk's counts on top of the list."""
    return page.locator(".wxpay-counts li", has=page.locator("span", has_text=label)).locator("strong").first


@pytest.mark.parametrize("locale", list(LEAD))
def test_a_lead_runs_the_day_from_the_desk(new_page, live_server, wxpay_settings, screenshot, locale):
    words = LEAD[locale]
    report = desk.open_desk(wxpay_settings, f"{live_server.url}/wxpay/complaints/notify/")
    assert report.problems == []
    overdue_id = report.complaint_ids[3]  # the seed filed 26 hours ago: its first reply is overdue

    page = new_page(locale)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(COMPLAINTS)
    expect(page.locator("html")).to_have_attribute("lang", words["lang"])
    # The counts on top; what is due first comes first, in red.
    expect(count(page, words["pending_overdue"])).to_have_text("1")
    first = page.locator("#result_list tbody tr").first
    expect(first).to_contain_text(overdue_id)
    expect(first.locator(".wxpay-due-overdue")).to_have_count(1)
    expect(page.locator("#result_list .wxpay-due-due_soon")).to_have_count(2)
    # The list fits 1280 px: beside the menu, the order number and amount are in view ...
    results = page.locator("#changelist .results")
    right = results.evaluate("element => element.getBoundingClientRect().right")
    for column in ("out_trade_no", "amount_yuan"):
        box = first.locator(f"td.field-{column}").bounding_box()
        assert box is not None and box["x"] + box["width"] <= right
    page.locator("#toggle-nav-sidebar").click()  # the picture shows the desk, not the menu
    # ... and with the menu folded away, every column: nothing to scroll sideways, not even inside the list.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.wait_for_function(  # polls until the menu has folded (a CSS transition), fails at the timeout
        "() => { const list = document.querySelector('#changelist .results');"
        " return list.scrollWidth <= list.clientWidth; }"
    )
    screenshot(page, f"complaint-desk-list-{words['screens']}", full_page=True)

    page.locator("#changelist-filter").get_by_role("link", name=words["overdue"], exact=True).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)  # only the overdue reply
    page.locator("#result_list tbody tr").first.get_by_role("link", name=overdue_id, exact=True).click()

    expect(page.locator(".field-clock .wxpay-due-overdue")).to_contain_text(words["clock"])
    page.get_by_role("button", name=words["assign"]).click()
    expect(page.locator(".messagelist .success")).to_have_text(words["assigned"])
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, f"complaint-page-{words['screens']}", full_page=True)

    page.locator(".object-tools").get_by_role("link", name=words["reply"], exact=True).click()
    page.locator(".wxpay-saved-replies").get_by_role("link", name=desk.SAVED_REPLY[0]).click()
    expect(page.locator("textarea[name=content]")).to_have_value(
        desk.SAVED_REPLY[1].replace("{order}", "DEMO20261125005").replace("{amount}", "88.00")
    )
    # Django's aligned rows: the label beside its field, not above it.
    label = page.locator(".form-row.field-content label").bounding_box()
    field = page.locator("textarea[name=content]").bounding_box()
    assert label is not None and field is not None
    assert label["x"] + label["width"] <= field["x"] and abs(label["y"] - field["y"]) < field["height"]
    screenshot(page, f"complaint-reply-saved-{words['screens']}", full_page=True)
    page.get_by_role("button", name=words["send"]).click()
    expect(page.locator(".messagelist .success")).to_have_text(words["sent"])

    page.goto(COMPLAINTS)
    expect(count(page, words["pending_overdue"])).to_have_text("0")  # answered: the count changed
    assert wxpay_settings.complaint_replies(overdue_id)[0]["response_content"].startswith("您好，订单 DEMO20261125005")
    assert Complaint.objects.get(complaint_id=overdue_id).state == Complaint.State.PROCESSING
