"""``MerchantGrant``: which merchants (mchids) a staff member or a group may see on the desk.

Defined beside :mod:`.models` (which imports it, so Django registers it); the
rule that reads grants lives in :mod:`.scoping`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class MerchantGrant(models.Model):
    """Access for one user **or** one group to one merchant number's records.

    Superusers, and staff with the permission ``view_all_merchants``, need none:
    they see every merchant.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="wxpay_merchant_grants",
        verbose_name=_("user"),
        help_text=_("The staff member granted access; leave empty when granting a group."),
    )
    group = models.ForeignKey(
        "auth.Group",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="wxpay_merchant_grants",
        verbose_name=_("group"),
        help_text=_("The group granted access (every member); leave empty when granting a user."),
    )
    mchid = models.CharField(
        _("merchant number"),
        max_length=32,
        db_index=True,
        help_text=_("The WeChat Pay merchant number (mchid) whose complaints, replies and images they see."),
    )
    created_at = models.DateTimeField(_("granted at"), auto_now_add=True, help_text=_("When the grant was made."))

    class Meta:
        verbose_name = _("merchant grant")
        verbose_name_plural = _("merchant grants")
        ordering = ["mchid", "pk"]
        # A row grants a user or a group; NULLs never collide, so each unique pair holds on every database.
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False),
                name="wxpay_media_grant_user_or_group",
                violation_error_message=_("Grant either a user or a group, not both and not neither."),
            ),
            models.UniqueConstraint(
                fields=["user", "mchid"],
                name="wxpay_media_unique_user_grant",
                violation_error_message=_("This user already has this merchant."),
            ),
            models.UniqueConstraint(
                fields=["group", "mchid"],
                name="wxpay_media_unique_group_grant",
                violation_error_message=_("This group already has this merchant."),
            ),
        ]
        permissions = [("view_all_merchants", _("Can see every merchant's complaints and images"))]

    def __str__(self) -> str:
        who = self.user if self.user_id else self.group
        return gettext("%(who)s: merchant %(mchid)s") % {"who": who, "mchid": self.mchid}
