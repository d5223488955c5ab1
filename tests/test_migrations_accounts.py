"""A single-account site upgrades with no change to its settings or data (issue 17).

From the schema before accounts (migrations up to FeedbackImage's claim token and the
desk's notification state), rows are created, then migrated forward: every row
belongs to the default account and keeps its merchant number.
"""

from __future__ import annotations

import pytest

from django_wxpay_media.complaints.models import Complaint
from django_wxpay_media.models import FeedbackImage
from tests.migrating import apps_at, migrate

BEFORE = [("django_wxpay_media", "0002_feedbackimage_claim_token"), ("wxpay_complaints", "0004_notification_state")]
AFTER = [("django_wxpay_media", "0003_feedbackimage_account"), ("wxpay_complaints", "0005_complaint_account")]


@pytest.mark.django_db(transaction=True)
def test_rows_of_a_single_account_site_become_the_default_accounts():
    old = apps_at(BEFORE)
    OldImage = old.get_model("django_wxpay_media", "FeedbackImage")
    OldComplaint = old.get_model("wxpay_complaints", "Complaint")
    assert "account" not in {f.name for f in OldImage._meta.get_fields()}
    OldImage.objects.create(
        file="wxpay_media/a.png",
        filename="a.png",
        sha256="a" * 64,
        size=1,
        content_type="image/png",
        mchid="1900000001",
    )
    OldComplaint.objects.create(complaint_id="200000020261127000001", complainted_mchid="1900000101")

    migrate(AFTER)
    migrate()  # the rest of the suite expects the latest schema

    image = FeedbackImage.objects.get()
    assert (image.account, image.mchid, image.sha256) == ("default", "1900000001", "a" * 64)
    complaint = Complaint.objects.get()
    assert (complaint.account, complaint.complainted_mchid) == ("default", "1900000101")
