"""Form fields that validate an image, store it, and upload it once it is safe to.

``FeedbackImageField`` takes one file, ``FeedbackImagesField`` several (at most
``WXPAY_MEDIA["MAX_FILES"]``, 4 by default: the most a complaint reply carries).
Each file is checked the way WeChat Pay checks it (JPEG, PNG or BMP by content, 1
byte to 2 MB) before anything is stored or sent. While the form cleans, a valid
file is *stored* (a :class:`~django_wxpay_media.models.FeedbackImage` record,
status pending, file saved) and the field's cleaned value is that record (or a
list of them). The upload itself is decided by
:func:`django_wxpay_media.services.upload_stored`:

* with no transaction open (a plain view), it runs right away, several files
  ``CONCURRENCY`` at a time; a failure becomes a field error, as a bad file does,
  and the image is kept (submitting it again retries it);
* inside a transaction (the admin, ``ATOMIC_REQUESTS``), it runs once the
  transaction has committed, so that no transaction or lock is held while WeChat
  Pay answers. The form is valid with *pending* records; the view tells staff the
  result through :meth:`FeedbackImageFormMixin.on_uploads_done` (or the
  :data:`~django_wxpay_media.signals.uploads_finished` signal).

Example, a reply form for a model of your own::

    from django import forms
    from django_wxpay_media.forms import FeedbackImageFormMixin, FeedbackImagesField


    class ReplyForm(FeedbackImageFormMixin, forms.Form):
        content = forms.CharField(widget=forms.Textarea)
        images = FeedbackImagesField(required=False)


    form = ReplyForm(request.POST, request.FILES, user=request.user)
    if form.is_valid():
        form.on_uploads_done(lambda outcomes: [messages.info(request, texts.outcome_message(o)) for o in outcomes])

Storing happens in ``clean()``, so it happens even when another field of the
same form is invalid; nothing is lost by that: submitting the same bytes again
reuses the record.

By job: :mod:`.fields` (the two fields), :mod:`.mixin` (the form mixin),
:mod:`.widgets` (the file inputs).
"""

from .fields import FeedbackImageField, FeedbackImagesField, UploadsCallback
from .mixin import FeedbackImageFormMixin
from .widgets import ACCEPT, FeedbackImageInput, MultipleFeedbackImageInput

__all__ = [
    "ACCEPT",
    "FeedbackImageField",
    "FeedbackImageFormMixin",
    "FeedbackImageInput",
    "FeedbackImagesField",
    "MultipleFeedbackImageInput",
    "UploadsCallback",
]
