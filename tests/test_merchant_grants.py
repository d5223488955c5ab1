"""Merchant grants: the model's rules, who manages them, and upgrading (existing staff keep seeing everything)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from django_wxpay_media import scoping
from django_wxpay_media.models import MerchantGrant

from .grants import grant

pytestmark = pytest.mark.django_db


def test_a_grant_names_a_user_or_a_group_never_both_nor_neither():
    user = User.objects.create_user("u", is_staff=True)
    group = Group.objects.create(name="g")
    for who in ({"user": user, "group": group}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            MerchantGrant.objects.create(mchid="1900000101", **who)
    grant("1900000101", user=user)
    grant("1900000101", group=group)
    for who in ({"user": user}, {"group": group}):
        with pytest.raises(IntegrityError), transaction.atomic():
            MerchantGrant.objects.create(mchid="1900000101", **who)
    grant("1900000202", user=user)  # another merchant is another grant
    assert MerchantGrant.objects.count() == 3


def _staff(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def test_only_staff_who_may_change_grants_see_or_manage_them(client):
    grant("1900000202", group=Group.objects.create(name="team B"))
    url = reverse("admin:django_wxpay_media_merchantgrant_changelist")
    client.force_login(_staff("viewer", "view_merchantgrant"))
    assert client.get(url).status_code == 403  # the list would show every merchant's number
    client.force_login(_staff("manager", "view_merchantgrant", "change_merchantgrant", "add_merchantgrant"))
    assert "1900000202" in client.get(url).content.decode()


def test_the_add_form_says_why_a_grant_is_refused(admin_client):
    user = User.objects.create_user("agent", is_staff=True)
    group = Group.objects.create(name="team")
    url = reverse("admin:django_wxpay_media_merchantgrant_add")
    page = admin_client.post(url, {"mchid": "1900000101", "user": user.pk, "group": group.pk}).content.decode()
    assert "Grant either a user or a group, not both and not neither." in page
    assert admin_client.post(url, {"mchid": "1900000101", "user": user.pk}).status_code == 302
    page = admin_client.post(url, {"mchid": "1900000101", "user": user.pk}).content.decode()
    assert "This user already has this merchant." in page
    assert MerchantGrant.objects.count() == 1
    page = admin_client.post(url, {"mchid": "1900000101", "user": user.pk}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "该用户已拥有此商户的权限" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_upgrading_keeps_existing_staff_seeing_every_merchant():
    """Staff who exist before grants get view_all_merchants; staff added later see only their grants."""
    executor = MigrationExecutor(connection)
    before = [("django_wxpay_media", "0003_feedbackimage_account")]
    after = [("django_wxpay_media", "0004_merchantgrant")]
    executor.migrate(before)
    try:
        User.objects.create_user("existing", is_staff=True)
        User.objects.create_user("customer")  # not staff: nothing given
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert scoping.visible_mchids(User.objects.get(username="existing")) is None
    assert scoping.visible_mchids(User.objects.get(username="customer")) == frozenset()
    newcomer = User.objects.create_user("newcomer", is_staff=True)
    assert scoping.visible_mchids(newcomer) == frozenset()
