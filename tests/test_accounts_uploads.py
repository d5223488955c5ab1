"""Uploads per merchant account (issue 17): the services, the form field, the admin's add form,
the command and the batch each take an account; records are kept per mchid."""

from __future__ import annotations

import io

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_wxpay_media import services
from django_wxpay_media.complaints.models import Complaint
from django_wxpay_media.forms import FeedbackImageField
from django_wxpay_media.models import FeedbackImage

from .admin_helpers import ADD
from .helpers import SHOP2
from .images import png_bytes

pytestmark = pytest.mark.django_db


def test_the_admin_asks_which_account_only_when_there_are_several(admin_client, wxpay_settings, settings):
    assert 'name="account"' not in admin_client.get(reverse(ADD)).content.decode()


def test_the_admin_add_form_uploads_for_the_account_chosen(
    admin_client, upload_shops, django_capture_on_commit_callbacks
):
    first, second = upload_shops
    page = admin_client.get(reverse(ADD)).content.decode()
    assert 'name="account"' in page and f"shop2 ({SHOP2})" in page
    with django_capture_on_commit_callbacks(execute=True):  # the test's transaction stands for the request's
        response = admin_client.post(
            reverse(ADD), {"account": "shop2", "upload": SimpleUploadedFile("a.png", png_bytes(21))}
        )
    assert response.status_code == 302
    image = FeedbackImage.objects.get()
    assert (image.account, image.mchid, image.status) == ("shop2", SHOP2, FeedbackImage.Status.UPLOADED)
    assert len(second.uploads) == 1 and first.uploads == []


def test_the_form_field_uploads_for_its_account(upload_shops, django_capture_on_commit_callbacks):
    first, second = upload_shops

    class Form(forms.Form):
        image = FeedbackImageField(account="shop2")

    form = Form(files={"image": SimpleUploadedFile("b.png", png_bytes(22))})
    with django_capture_on_commit_callbacks(execute=True):  # uploaded once the transaction commits
        assert form.is_valid(), form.errors
    image = form.cleaned_data["image"]
    image.refresh_from_db()
    assert (image.account, image.mchid, image.status) == ("shop2", SHOP2, FeedbackImage.Status.UPLOADED)
    assert len(second.uploads) == 1 and first.uploads == []


def test_the_command_uploads_for_the_account_named(upload_shops, tmp_path):
    first, second = upload_shops
    path = tmp_path / "c.png"
    path.write_bytes(png_bytes(23))
    out = io.StringIO()
    call_command("wxpay_upload", str(path), "--account", "shop2", stdout=out)
    [sent] = second.uploads
    assert out.getvalue() == f"{path}\t{sent.media_id}\n" and first.uploads == []
    with pytest.raises(CommandError, match="'shop9' is not a merchant account"):
        call_command("wxpay_upload", str(path), "--account", "shop9", stdout=io.StringIO())


def test_the_batch_finishes_only_the_accounts_records(upload_shops):
    first, second = upload_shops
    mine = services.store(io.BytesIO(png_bytes(24)), filename="d.png").record
    theirs = services.store(io.BytesIO(png_bytes(25)), filename="e.png", account="shop2").record
    assert mine is not None and theirs is not None
    [outcome] = services.upload_pending(account="shop2")
    assert outcome.ok and outcome.record.pk == theirs.pk
    assert len(second.uploads) == 1 and first.uploads == []
    [outcome] = services.upload_pending()
    assert outcome.record.pk == mine.pk and len(first.uploads) == 1
    # A retry sends a record through the account it was stored for.
    failed = services.store(io.BytesIO(png_bytes(26)), filename="f.png", account="shop2").record
    assert services.retry(failed).ok and len(second.uploads) == 2


def test_the_lists_show_and_filter_the_account_only_when_there_are_several(admin_client, upload_shops, settings):
    from .admin_helpers import CHANGELIST

    services.store(io.BytesIO(png_bytes(27)), filename="mine.png")
    services.store(io.BytesIO(png_bytes(28)), filename="theirs.png", account="shop2")
    page = admin_client.get(reverse(CHANGELIST), {"account": "shop2"})
    assert page.status_code == 200
    assert [image.filename for image in page.context["cl"].result_list] == ["theirs.png"]
    assert "column-account" in page.content.decode()
    Complaint.objects.create(complaint_id="200000020261127000009", complainted_mchid=SHOP2, account="shop2")
    complaints = admin_client.get(reverse("admin:wxpay_complaints_complaint_changelist"), {"account": "shop2"})
    assert complaints.status_code == 200 and "column-account" in complaints.content.decode()
    settings.WXPAY_MEDIA = {k: v for k, v in settings.WXPAY_MEDIA.items() if k != "ACCOUNTS"}
    single = admin_client.get(reverse(CHANGELIST))
    assert "column-account" not in single.content.decode()
    assert admin_client.get(reverse(CHANGELIST), {"account": "shop2"}).status_code == 400  # not a filter offered


def test_the_upload_action_checks_the_settings_of_each_selected_records_account(admin_client, upload_shops, settings):
    from .admin_helpers import CHANGELIST, messages_of

    first, second = upload_shops
    mine = services.store(io.BytesIO(png_bytes(29)), filename="mine.png").record
    theirs = services.store(io.BytesIO(png_bytes(30)), filename="theirs.png", account="shop2").record
    broken = {k: v for k, v in second.settings().items() if k != "PRIVATE_KEY"}  # shop2 cannot sign now
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "ACCOUNTS": {"shop2": broken}}
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "upload_selected", "_selected_action": [mine.pk, theirs.pk]}, follow=True
    )
    assert response.status_code == 200
    assert any("not set up correctly" in message for message in messages_of(response))
    assert first.uploads == [] and second.uploads == []  # one polite sentence, nothing sent
