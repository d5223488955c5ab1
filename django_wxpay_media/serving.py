"""Stored images served to staff through the admin's own views, never through ``MEDIA_URL``.

Feedback images, the images of a reply and the consumer's pictures live in the
storage ``WXPAY_MEDIA['STORAGE']`` names, which may be private (a folder outside
the web root, a bucket without public URLs). The admin's views check permissions
and then hand the file to :func:`stored_image_response`: it works with any
storage because it only calls ``open()``, never ``url()``.
"""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404

from .wechatpay import detect_format

__all__ = ["stored_image_response"]

#: Bytes enough for :func:`~django_wxpay_media.wechatpay.detect_format` (BMP needs 18).
_SNIFF = 18


def stored_image_response(file: FieldFile | None) -> FileResponse:
    """The stored image ``file`` as a response; :class:`~django.http.Http404` when there is none.

    The Content-Type comes from the bytes (JPEG, PNG or BMP), never from a stored name
    or type; anything else is sent as a download. ``nosniff`` keeps a browser from
    guessing otherwise, and nothing is cached: the image may be private.
    """
    # exists() first: every storage answers it (a missing S3 object is no OSError on read).
    if not file or not file.name or not file.storage.exists(file.name):
        raise Http404
    try:
        handle = file.open("rb")
        head = handle.read(_SNIFF)
        handle.seek(0)
    except (OSError, ValueError):  # gone from the storage (or the storage is unreachable)
        raise Http404 from None
    image_format = detect_format(head)
    if image_format is None:
        response = FileResponse(handle, content_type="application/octet-stream", as_attachment=True)
    else:
        response = FileResponse(handle, content_type=image_format.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
