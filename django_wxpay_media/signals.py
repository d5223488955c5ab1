"""Signals sent by :mod:`django_wxpay_media.services` after uploads.

All are sent with ``sender=FeedbackImage`` after the record has been saved.
``image_uploaded`` and ``image_upload_failed`` are sent only by the code that made
the attempt (a caller that reused another's upload gets no signal);
``uploads_finished`` once per batch the form fields started. Receivers run in the
uploading thread; an exception in a receiver is logged and does not change the
upload's outcome.
"""

from django.dispatch import Signal

#: WeChat Pay accepted an image. Arguments: ``image`` (the FeedbackImage, with ``media_id``).
image_uploaded = Signal()

#: An upload attempt failed and was recorded. Arguments: ``image`` (status ``failed``,
#: with ``error_code``/``error_message``/``request_id``) and ``error`` (the WeChatPayError).
image_upload_failed = Signal()

#: A batch of uploads deferred by :func:`~django_wxpay_media.services.upload_stored`
#: (the form fields use it) has finished, right away or after the transaction
#: committed. Argument: ``outcomes`` (a list of
#: :class:`~django_wxpay_media.outcome.UploadOutcome`, in the order the files came).
uploads_finished = Signal()
