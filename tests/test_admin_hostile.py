"""Hostile input to the admin's own views: never a stack trace, never a redirect off the site.

Property-based (hypothesis): whatever a browser or an attacker posts, staff get a
page or a redirect inside the admin, and nothing invalid reaches WeChat Pay.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.models import FeedbackImage
from tests.helpers import fuzz

from .admin_helpers import ADD
from .images import png_bytes

pytestmark = pytest.mark.django_db

ADMIN_PAGES = "/admin/django_wxpay_media/feedbackimage/"
# Function-scoped fixtures (client, sandbox) are shared by the examples on purpose:
# the same bytes are reused after the first upload, so examples stay cheap.
shared_fixtures = fuzz(40)


@shared_fixtures
@given(filters=st.text(max_size=80), button=st.sampled_from(["_save", "_addanother", "_continue"]))
@pytest.mark.django_db(transaction=True)
def test_any_changelist_filters_redirect_inside_the_admin(admin_client, wxpay_settings, filters, button):
    response = admin_client.post(
        f"{reverse(ADD)}?_changelist_filters={quote(filters)}",
        {"upload": SimpleUploadedFile("receipt.png", png_bytes(70)), button: "1"},
    )

    assert response.status_code == 302
    target = urlsplit(response.url)
    assert (target.scheme, target.netloc) == ("", "")
    assert target.path.startswith(ADMIN_PAGES)
    assert len(wxpay_settings.uploads) == 1  # the first example sent it; the rest reuse it


def _postable(name: str) -> bool:
    """A name a browser can post: Django's own UploadedFile refuses the rest ("/", "..")
    before any of our code runs, as its multipart parser does for a real request."""
    try:
        SimpleUploadedFile(name, b"")
    except SuspiciousFileOperation:
        return False
    return name.strip("\x00") != ""


@shared_fixtures
@given(
    content=st.binary(max_size=512),
    filename=st.text(min_size=1, max_size=60).filter(_postable),
)
def test_any_file_is_a_form_error_or_a_record_never_a_crash(admin_client, wxpay_settings, content, filename):
    sent_before = len(wxpay_settings.requests)

    response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile(filename, content)})

    assert response.status_code in (200, 302)
    if response.status_code == 200:  # refused on the form: nothing sent
        assert response.context["adminform"].form.errors
        assert len(wxpay_settings.requests) == sent_before
    else:
        assert urlsplit(response.url).path.startswith(ADMIN_PAGES)
        assert FeedbackImage.objects.exists()


@shared_fixtures
@given(object_id=st.text(min_size=1, max_size=40))
def test_any_object_id_to_retry_is_a_redirect_never_a_crash(admin_client, wxpay_settings, object_id):
    url = f"{ADMIN_PAGES}{quote(object_id, safe='')}/upload/"

    response = admin_client.post(url)

    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert urlsplit(response.url).path.startswith(ADMIN_PAGES)
    assert wxpay_settings.requests == []
