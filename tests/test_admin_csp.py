"""The admin under a Content Security Policy: no inline styles, its CSS from a static file.

A strict policy (no ``'unsafe-inline'``) makes the browser ignore every ``style=``
attribute and ``<style>`` element; so our pages have none, and what they need comes
from ``django_wxpay_media/admin.css`` through the ModelAdmin's ``Media``.
"""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from django_wxpay_media import services
from django_wxpay_media.models import FeedbackImage
from tests.formexample.models import ComplaintReply

from .images import png_bytes

pytestmark = pytest.mark.django_db

CSS = "/static/django_wxpay_media/admin.css"
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)


def feedback_image_pages(client: Client, sandbox) -> dict[str, str]:
    """Every feedback image screen, in the states that show the most: name -> HTML."""
    uploaded = services.upload_image(png_bytes(60), filename="uploaded.png")
    sandbox.add_fault("status", status=400, code="PARAM_ERROR", message="参数错误")
    failed_add = client.post(
        reverse("admin:django_wxpay_media_feedbackimage_add"),
        {"upload": SimpleUploadedFile("failed.png", png_bytes(61))},
        follow=True,
    )
    failed = FeedbackImage.objects.get(filename="failed.png")
    assert failed.status == FeedbackImage.Status.FAILED
    pages = {
        "changelist": client.get(reverse("admin:django_wxpay_media_feedbackimage_changelist")),
        "add": client.get(reverse("admin:django_wxpay_media_feedbackimage_add")),
        "add with a form error": client.post(
            reverse("admin:django_wxpay_media_feedbackimage_add"),
            {"upload": SimpleUploadedFile("text.jpg", b"not an image")},
        ),
        "uploaded record": client.get(reverse("admin:django_wxpay_media_feedbackimage_change", args=(uploaded.pk,))),
        "failed record after the add": failed_add,
    }
    reply = ComplaintReply.objects.create(complaint_id="200000020240101000001", content="见附图")
    reply.images.add(uploaded)
    pages["complaint reply list (demo)"] = client.get(reverse("admin:formexample_complaintreply_changelist"))
    pages["complaint reply (demo)"] = client.get(reverse("admin:formexample_complaintreply_change", args=(reply.pk,)))
    html = {}
    for name, response in pages.items():
        assert response.status_code == 200, name
        html[name] = response.content.decode()
    # The pages really show the parts that used to be styled inline.
    assert 'class="wxpay-thumbnail"' in html["changelist"]
    assert "wxpay-status wxpay-status-failed" in html["changelist"]
    assert 'class="wxpay-preview"' in html["uploaded record"]
    assert 'class="wxpay-upload-form"' in html["failed record after the add"]
    assert 'class="wxpay-figure"' in html["complaint reply (demo)"]
    return html


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.django_db(transaction=True)
def test_no_inline_style_and_the_stylesheet_is_linked(admin_client, wxpay_settings, language):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = language

    pages = feedback_image_pages(admin_client, wxpay_settings)

    for name, html in pages.items():
        assert INLINE_STYLE.findall(html) == [], name
        assert f'<link href="{CSS}" media="all" rel="stylesheet">' in html, name


@pytest.mark.django_db(transaction=True)  # the add view uploads after its commit, as in production
def test_django_csp_middleware_with_a_strict_policy(admin_user, wxpay_settings, settings):
    try:
        from django.utils.csp import CSP
    except ImportError:
        pytest.skip("Django's own CSP support (django.middleware.csp) arrived in Django 6.0")
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.csp.ContentSecurityPolicyMiddleware"]
    settings.SECURE_CSP = {
        "default-src": [CSP.SELF],
        "img-src": [CSP.SELF],
        "style-src": [CSP.SELF],
        "script-src": [CSP.SELF],
        "form-action": [CSP.SELF],
    }
    client = Client()  # built after the middleware change, so it runs it
    client.force_login(admin_user)

    pages = feedback_image_pages(client, wxpay_settings)

    response = client.get(reverse("admin:django_wxpay_media_feedbackimage_changelist"))
    policy = response.headers["Content-Security-Policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy
    for name, html in pages.items():
        assert INLINE_STYLE.findall(html) == [], name
        # Every script is a file from this site, which 'self' allows; no inline code.
        for tag in SCRIPT_TAG.findall(html):
            assert re.search(r'\ssrc="/', tag), (name, tag)
