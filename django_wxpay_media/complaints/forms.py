"""The desk's forms: reply, mark complete, refund decision.

Images go through the existing :class:`~django_wxpay_media.forms.FeedbackImagesField`
with ``upload=False``: the field validates them like WeChat Pay would, and the
service uploads them afterwards, outside any transaction, before sending.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from ..forms import FeedbackImagesField
from ..models import FeedbackImage
from ..wechatpay import complaints as wc
from .messages import message_for, staff_message


def _check_length(code: str, value: str, limit: int) -> None:
    length = wc.text_length(value)  # characters, as WeChat Pay counts them
    if length > limit:
        raise forms.ValidationError(message_for(code, length=length, limit=limit), code=code.lower())


def _prepared_images(form: forms.Form) -> list[Any]:
    """The form's images as the field checked them: the desk's upload reads and validates none again."""
    field = form.fields["images"]
    files = form.cleaned_data.get("images") or []
    return field.prepared(files) if isinstance(field, FeedbackImagesField) else files


class CountedTextarea(forms.Textarea):
    """A textarea with a live character count (counted like WeChat Pay: characters)."""

    def __init__(self, limit: int, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            {"rows": 6, "data-wxpay-limit": str(limit), "class": "vLargeTextField wxpay-counted", **(attrs or {})}
        )


class EarlierImagesField(forms.ModelMultipleChoiceField):
    """Images uploaded earlier (a saved reply's), attached by reference: ticked, not uploaded again."""

    def label_from_instance(self, obj: FeedbackImage) -> str:
        return obj.filename or str(obj)


class ReplyForm(forms.Form):
    """A reply: its text, images uploaded earlier (offered by saved replies), new images.

    ``earlier`` is the queryset of earlier uploads staff may attach; nothing else
    can be named by id (a hostile id is a validation error).
    """

    content = forms.CharField(
        label=_("Reply to the consumer"),
        widget=CountedTextarea(wc.MAX_RESPONSE_CONTENT),
        help_text=format_lazy(_("At most {limit} characters."), limit=wc.MAX_RESPONSE_CONTENT),
        strip=True,
    )
    images = FeedbackImagesField(
        label=_("Images"),
        required=False,
        upload=False,
        max_files=wc.MAX_IMAGES,
        help_text=_(
            "Up to 4 JPEG, PNG or BMP images of at most 2 MB; uploaded to WeChat Pay before the reply is sent."
        ),
    )

    earlier_images = EarlierImagesField(
        label=_("Images uploaded earlier"),
        queryset=FeedbackImage.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("From the saved replies; sent without uploading them again."),
    )

    field_order = ["content", "earlier_images", "images"]

    def __init__(self, *args: Any, earlier: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelMultipleChoiceField, self.fields["earlier_images"])
        if earlier is None or not earlier.exists():
            del self.fields["earlier_images"]  # nothing to offer: no empty row
        else:
            field.queryset = earlier

    def clean_images(self) -> list[Any]:
        return _prepared_images(self)

    def clean_content(self) -> str:
        content: str = self.cleaned_data["content"]
        try:  # the one reply check the service and the call use too
            wc.check_reply(content)
        except wc.ComplaintRequestError as exc:
            raise forms.ValidationError(staff_message(exc), code=exc.code.lower()) from None
        return content

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data.setdefault("earlier_images", [])
        count = len(data.get("earlier_images") or []) + len(data.get("images") or [])
        if count > wc.MAX_IMAGES:
            raise forms.ValidationError(
                _("A reply carries at most %(limit)d images; %(count)d were chosen."),
                code="too_many_images",
                params={"limit": wc.MAX_IMAGES, "count": count},
            )
        return data


class ConfirmForm(forms.Form):
    """Marking complete: a POST with the CSRF token is the confirmation."""

    confirm = forms.BooleanField(widget=forms.HiddenInput, initial=True)


class RefundDecisionForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Decision"),
        choices=[("APPROVE", _("Approve the refund")), ("REJECT", _("Reject the refund"))],
        widget=forms.RadioSelect,
    )
    launch_refund_day = forms.IntegerField(
        label=_("Refund within (days)"),
        required=False,
        min_value=0,
        help_text=_(
            "When approving: in how many days the refund will be made (0: today). Approving does not refund by itself."
        ),
    )
    reject_reason = forms.CharField(
        label=_("Reason for rejecting"),
        required=False,
        widget=CountedTextarea(wc.MAX_REJECT_REASON),
        help_text=format_lazy(_("Required when rejecting; at most {limit} characters."), limit=wc.MAX_REJECT_REASON),
    )
    images = FeedbackImagesField(
        label=_("Evidence images"),
        required=False,
        upload=False,
        max_files=wc.MAX_IMAGES,
        help_text=_("When rejecting: up to 4 images."),
    )
    remark = forms.CharField(
        label=_("Remark"), required=False, widget=CountedTextarea(wc.MAX_REMARK, {"rows": 2}), help_text=_("Optional.")
    )

    def clean_images(self) -> list[Any]:
        return _prepared_images(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        reason = data.get("reject_reason") or ""
        if action == "REJECT" and not reason.strip():
            self.add_error("reject_reason", message_for("MISSING_REJECT_REASON"))
        if reason:
            try:
                _check_length("REASON_TOO_LONG", reason, wc.MAX_REJECT_REASON)
            except forms.ValidationError as exc:
                self.add_error("reject_reason", exc)
        if action == "APPROVE" and (reason or data.get("images")):
            self.add_error("action", _("An approval carries no reason or images; choose “Reject” to send them."))
        remark = data.get("remark") or ""
        if remark:
            try:
                _check_length("REMARK_TOO_LONG", remark, wc.MAX_REMARK)
            except forms.ValidationError as exc:
                self.add_error("remark", exc)
        return data


class InstantServiceForm(forms.Form):
    """The instant-service reply (for complaints WeChat Pay flags ``need_immediate_service``):
    a text, up to 4 images, an optional HTTPS link."""

    text = forms.CharField(
        label=_("Message to the consumer"),
        widget=CountedTextarea(wc.MAX_BLOCK_TEXT),
        help_text=format_lazy(_("At most {limit} characters."), limit=wc.MAX_BLOCK_TEXT),
        strip=True,
    )
    images = FeedbackImagesField(
        label=_("Images"),
        required=False,
        upload=False,
        max_files=wc.MAX_IMAGES,
        help_text=_(
            "Up to 4 JPEG, PNG or BMP images of at most 2 MB; uploaded to WeChat Pay before the message is sent."
        ),
    )
    link_text = forms.CharField(
        label=_("Link text"),
        required=False,
        strip=True,
        help_text=format_lazy(_("Optional; at most {limit} characters."), limit=wc.MAX_LINK_TEXT),
    )
    link_url = forms.CharField(
        label=_("Link address"), required=False, strip=True, help_text=_("Optional; an https:// address.")
    )

    def clean_images(self) -> list[Any]:
        return _prepared_images(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "text" not in data:
            return data
        try:  # the one message check the service and the call use too
            wc.check_instant_reply(
                wc.simple_message(data["text"], len(data.get("images") or []), data["link_text"], data["link_url"])
            )
        except wc.ComplaintRequestError as exc:
            raise forms.ValidationError(staff_message(exc), code=exc.code.lower()) from None
        return data
