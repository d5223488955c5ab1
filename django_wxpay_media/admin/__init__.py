"""The admin screens customer-service staff use to upload feedback images.

Split by responsibility:

* :mod:`.options` — ``FeedbackImageAdmin``: what is listed, filtered, searched,
  shown, and the action *Upload to WeChat Pay*;
* :mod:`.columns` — the computed columns (thumbnail, preview, size, status, media_id);
* :mod:`.views` — the add view (one file, uploaded when saved) and the retry view,
  registered through ``get_urls()`` and ``admin_site.admin_view()``;
* :mod:`.scoped` — ``MerchantScopedAdmin``: every list and record limited, in
  ``get_queryset``, to the merchants the user may see (:mod:`django_wxpay_media.scoping`);
* :mod:`.grants` — ``MerchantGrantAdmin``: who sees which merchant;
* :mod:`.levels` — :func:`message_level`, how loud each outcome's message is
  (its sentence comes from :mod:`django_wxpay_media.texts`);
* the add form lives with the forms, in :mod:`django_wxpay_media.admin_forms`.

Styles come from ``static/django_wxpay_media/admin.css`` through the admin's
``Media``; nothing is inline, so the admin works under a strict Content Security Policy.
"""

from .columns import file_url
from .grants import MerchantGrantAdmin
from .levels import message_level
from .options import FeedbackImageAdmin
from .scoped import MerchantScopedAdmin

__all__ = ["FeedbackImageAdmin", "MerchantGrantAdmin", "MerchantScopedAdmin", "file_url", "message_level"]
