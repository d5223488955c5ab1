"""A strict local stand-in for WeChat Pay APIv3 (image upload, complaints), for development and tests.

WeChat Pay has no APIv3 sandbox, so this package provides one on loopback::

    from django_wxpay_media.sandbox import Sandbox, SandboxKeys

    with Sandbox(mode="public_key", keys=SandboxKeys.shared()) as sb:
        settings.WXPAY_MEDIA = sb.settings()
        ...  # upload; then inspect sb.uploads / sb.requests, inject sb.add_fault(...)
        complaint = sb.seed_complaint(images=2)  # then list, reply, complete, sb.notify(...)

It is an independent server-side implementation written from the API
specification: it imports nothing from ``django_wxpay_media.wechatpay`` (so a
mistake in the client cannot hide in the sandbox) and nothing from Django. Run it
stand-alone with ``python -m django_wxpay_media.sandbox``; the pytest plugin
(:mod:`.pytest_plugin`) offers the ``wxpay_sandbox`` and ``wxpay_sandbox_factory``
fixtures.

Modules: :mod:`.server` (the :class:`Sandbox` facade), :mod:`.httpd` (HTTP plumbing),
:mod:`.api` (routing, authorization, the upload, certificates), :mod:`.complaints`
(the complaint APIs and notifications), :mod:`.answers` (answers and their signing),
:mod:`.faults` (injected faults), :mod:`.multipart`, :mod:`.upload`, :mod:`.protocol`,
:mod:`.keys`, :mod:`.images` and :mod:`.records`.
"""

from .complaints import COMPLAINTS_PATH, IMAGES_PATH, NOTIFICATIONS_PATH
from .faults import FAULT_KINDS, UPLOAD_PATH, Fault
from .keys import PlatformCertificate, SandboxKeys
from .records import Headers, ReceivedRequest, UploadedImage
from .server import CERTIFICATES_PATH, MODES, Sandbox

__all__ = [
    "CERTIFICATES_PATH",
    "COMPLAINTS_PATH",
    "FAULT_KINDS",
    "IMAGES_PATH",
    "MODES",
    "NOTIFICATIONS_PATH",
    "UPLOAD_PATH",
    "Fault",
    "Headers",
    "PlatformCertificate",
    "ReceivedRequest",
    "Sandbox",
    "SandboxKeys",
    "UploadedImage",
]
