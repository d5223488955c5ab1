"""The admin's "uploads are not set up" banner on the feedback image list and add page.

Staff read, in their language, that uploads cannot work and whom to ask, before
they try one; superusers also read the ids of the failing checks. Nothing shows
when ``WXPAY_MEDIA`` has no error.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from .admin_helpers import ADD, CHANGELIST

pytestmark = pytest.mark.django_db

STAFF_SENTENCE = "Uploading to WeChat Pay is not set up correctly on this site. Please contact your administrator."
CHINESE_SENTENCE = "本站上传到微信支付的配置有误，请联系管理员。"


@pytest.fixture
def staff_client(client, django_user_model):
    """A staff member (not a superuser) who may view and add feedback images."""
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_feedbackimage", "add_feedbackimage"]))
    client.force_login(user)
    return client


@pytest.fixture
def not_configured(settings):
    """A fresh project: the app installed, WXPAY_MEDIA not written yet."""
    if hasattr(settings, "WXPAY_MEDIA"):
        del settings.WXPAY_MEDIA


def banner(response) -> str:
    """The banner's text, or "" when the page has none."""
    html = response.content.decode()
    start = html.find('class="messagelist wxpay-setup-banner"')
    if start < 0:
        return ""
    return html[html.index('<li class="warning">', start) + len('<li class="warning">') : html.index("</li>", start)]


@pytest.mark.parametrize("page", [CHANGELIST, ADD])
def test_staff_see_the_banner_without_check_ids(staff_client, not_configured, page):
    response = staff_client.get(reverse(page))

    assert response.status_code == 200
    assert banner(response) == STAFF_SENTENCE  # no ids, no setting names, no stack trace


@pytest.mark.parametrize("page", [CHANGELIST, ADD])
def test_superusers_also_see_the_check_ids(admin_client, not_configured, page):
    response = admin_client.get(reverse(page))

    text = banner(response)
    assert text.startswith(STAFF_SENTENCE)
    assert "manage.py check --deploy" in text and "django_wxpay_media.E001" in text


def test_the_ids_are_those_of_the_failing_checks(admin_client, settings, wxpay_settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "MERCHANT_SERIAL_NO": "", "TIMEOUT": -1}

    text = banner(admin_client.get(reverse(CHANGELIST)))

    assert "(django_wxpay_media.E005, django_wxpay_media.E019)" in text


@pytest.mark.parametrize("page", [CHANGELIST, ADD])
def test_no_banner_when_uploads_are_set_up(admin_client, wxpay_settings, page):
    response = admin_client.get(reverse(page))

    assert response.status_code == 200
    assert "wxpay-setup-banner" not in response.content.decode()


def test_warnings_alone_show_no_banner(admin_client, settings, wxpay_settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "MAX_FILES": 9}  # W002: uploads still work

    assert banner(admin_client.get(reverse(CHANGELIST))) == ""


def test_the_banner_in_chinese(staff_client, not_configured):
    response = staff_client.get(reverse(CHANGELIST), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert banner(response) == CHINESE_SENTENCE


def test_the_superuser_line_in_chinese(admin_client, not_configured):
    response = admin_client.get(reverse(ADD), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert banner(response) == (
        CHINESE_SENTENCE
        + " 管理员请注意：运行“python manage.py check --deploy”可查看需要修正的内容（django_wxpay_media.E001）。"
    )


def test_an_upload_tried_anyway_is_a_form_error_not_a_crash(staff_client, not_configured):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from .images import png_bytes

    response = staff_client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(1))})

    assert response.status_code == 200
    assert banner(response) == STAFF_SENTENCE
    assert response.context["adminform"].form.errors["upload"] == [STAFF_SENTENCE]
