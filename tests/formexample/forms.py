"""The complaint-reply form: attached images can be unticked, new files uploaded.

This is the pattern for a model of your own with a ``ManyToManyField`` to
:class:`~django_wxpay_media.models.FeedbackImage`: a :class:`FeedbackImagesField`
for new files next to the relation, and ``save()`` adding what was uploaded.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from django_wxpay_media import conf
from django_wxpay_media.forms import FeedbackImageFormMixin, FeedbackImagesField
from django_wxpay_media.models import FeedbackImage

from .models import ComplaintReply


class ComplaintReplyForm(FeedbackImageFormMixin, forms.ModelForm):
    """A reply with up to ``WXPAY_MEDIA["MAX_FILES"]`` (4) images in total.

    ``images`` lists the images already attached (untick one to detach it);
    ``new_images`` takes files, which are validated and uploaded to WeChat Pay when
    the form is cleaned and attached when it is saved.
    """

    new_images = FeedbackImagesField(
        label=_("Add images"),
        required=False,
        help_text=_(
            "Choose up to 4 JPEG, PNG or BMP files of at most 2 MB each; they are uploaded to WeChat Pay when you save."
        ),
    )

    error_messages = {
        "too_many_images": ngettext_lazy(
            "A reply carries at most %(max)d image; it would have %(count)d. "
            "Untick attached images or choose fewer files.",
            "A reply carries at most %(max)d images; it would have %(count)d. "
            "Untick attached images or choose fewer files.",
            "max",
        ),
    }

    class Meta:
        model = ComplaintReply
        fields = ["complaint_id", "content", "images"]
        widgets = {"images": forms.CheckboxSelectMultiple}
        labels = {"images": _("Attached images")}
        help_texts = {"images": _("Untick an image to detach it from this reply.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "images" in self.fields:
            # Only what this reply carries: the list of every image ever uploaded is no choice to offer.
            if self.instance.pk:
                attached = self.instance.images.order_by("created_at", "pk")  # as in media_ids
            else:
                attached = FeedbackImage.objects.none()
            self.fields["images"].queryset = attached  # type: ignore[attr-defined]
            self.fields["images"].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = cast(dict[str, Any], super().clean())  # ModelForm.clean() returns cleaned_data
        new_images = cleaned.get("new_images") or []
        if "images" in self.fields:
            kept = list(cleaned.get("images") or [])
        else:
            kept = list(self.instance.images.all()) if self.instance.pk else []
        total = len({image.pk for image in kept} | {image.pk for image in new_images})
        limit = int(conf.get_setting("MAX_FILES"))
        if total > limit:
            self.add_error(
                "new_images",
                forms.ValidationError(
                    self.error_messages["too_many_images"],
                    code="too_many_images",
                    params={"max": limit, "count": total},
                ),
            )
        return cleaned

    def save(self, commit: bool = True) -> ComplaintReply:
        reply: ComplaintReply = super().save(commit=commit)
        new_images = self.cleaned_data.get("new_images") or []
        if commit:
            reply.images.add(*new_images)
        else:  # the admin saves the relations later, through save_m2m()
            save_m2m = self.save_m2m

            def save_m2m_and_attach() -> None:
                save_m2m()
                self.instance.images.add(*new_images)

            # Replaced on the instance, as ModelForm.save(commit=False) itself does.
            self.save_m2m = save_m2m_and_attach  # type: ignore[method-assign]
        return reply
