"""History image links: only a plain https address is a link, and the page says where it leads.

WeChat Pay's ``image_list`` is rendered for staff; an address that is not a plain
``https://host/…`` (``javascript:``, ``data:``, user info, backslashes, control
characters a browser drops) is shown as text. Property-based over URL shapes.
"""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from django_wxpay_media.complaints import links, services
from django_wxpay_media.complaints.models import HistoryEntry
from tests.grants import sees_every_merchant

pytestmark = pytest.mark.django_db

SCHEMES = ["https", "HTTPS", "hTTps", "http", "javascript", "JaVaScRiPt", "data", "vbscript", "ftp", "", " https"]
SEPARATORS = ["://", ":", ":/", ":\\\\", ":/\\", "//", ":\t//", ":/ /"]
USERINFO = ["", "user@", "a:b@", "api.mch.weixin.qq.com@", "@"]
HOSTS = ["api.mch.weixin.qq.com", "evil.example", "[::1]", "127.0.0.1", "", "xn--fsq.example", "ex ample.com"]
PORTS = ["", ":443", ":0443", ":x", ":99999", ":"]
TAILS = st.text(alphabet=st.sampled_from(list("/?#@\\:%.aZ9 \t\n\x00\x7f\u200b\"'<>&")), max_size=12)

url_shapes = st.one_of(
    st.builds(
        lambda *parts: "".join(parts),
        st.sampled_from(SCHEMES),
        st.sampled_from(SEPARATORS),
        st.sampled_from(USERINFO),
        st.sampled_from(HOSTS),
        st.sampled_from(PORTS),
        TAILS,
    ),
    st.text(max_size=40),
)


def authority(url: str) -> str:
    """What follows ``https://`` up to the path, query or fragment (the browser's host and port)."""
    return re.split(r"[/?#]", url[len("https://") :], maxsplit=1)[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(url_shapes)
@example("javascript:alert(document.cookie)")
@example("https://api.mch.weixin.qq.com@evil.example/a.png")
@example("https://good.example\\@evil.example/")
@example("https:\\\\evil.example/")
@example("https://\x00evil.example/")
@example("https://evil.example/\nx")
def test_only_a_plain_https_address_is_a_link_and_its_host_is_named(url):
    shown = links.shown(url)
    assert shown.url == url  # shown as given, as a link or as text
    if shown.is_link:
        assert url[:8].lower() == "https://"
        assert all(0x20 < ord(char) != 0x7F and char != "\\" for char in url)
        assert "@" not in authority(url)
        assert shown.host == authority(url) and shown.host


def test_hostile_history_links_are_text_on_the_complaint_page(client, desk):
    complaint = services.refresh(desk.seed_complaint(images=0)["complaint_id"]).complaint
    assert complaint is not None
    hostile = [
        "javascript:alert(1)",
        " JavaScript:alert(2)",
        "data:text/html,<script>alert(3)</script>",
        "http://plain.example/x.png",
        "https://api.mch.weixin.qq.com@evil.example/4.png",
        "https://good.example\\@evil.example/5.png",
    ]
    HistoryEntry.objects.create(
        complaint=complaint,
        log_id="hostile",
        operate_type="USER_RESPONSE",
        image_urls=["https://media.example/ok.png", *hostile],
    )
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_complaint"))
    sees_every_merchant(user)
    client.force_login(user)
    page = client.get(reverse("admin:wxpay_complaints_complaint_change", args=[complaint.pk])).content.decode()
    timeline = page[page.index('class="wxpay-timeline"') :]
    timeline = timeline[: timeline.index("</ol>")]
    hrefs = [html.unescape(href) for href in re.findall(r'href="([^"]*)"', timeline)]
    assert hrefs == ["https://media.example/ok.png"]
    assert "Image 1 (media.example)" in timeline
    for number, url in enumerate(hostile, start=2):
        assert f"Image {number} (not a safe link)" in timeline
        assert html.escape(url) in timeline  # shown, escaped, as text
