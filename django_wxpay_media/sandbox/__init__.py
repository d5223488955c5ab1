"""A strict local stand-in for WeChat Pay APIv3 (image upload), for development and tests.

WeChat Pay has no APIv3 sandbox, so this package provides one on loopback::

    from django_wxpay_media.sandbox import Sandbox, SandboxKeys

    with Sandbox(mode="public_key", keys=SandboxKeys.shared()) as sb:
        settings.WXPAY_MEDIA = sb.settings()
        ...  # upload; then inspect sb.uploads / sb.requests, inject sb.add_fault(...)

It is an independent server-side implementation written from the API
specification: it imports nothing from ``django_wxpay_media.wechatpay`` (so a
mistake in the client cannot hide in the sandbox) and nothing from Django. Run it
stand-alone with ``python -m django_wxpay_media.sandbox``; the pytest plugin
(:mod:`.pytest_plugin`) offers the ``wxpay_sandbox`` and ``wxpay_sandbox_factory``
fixtures.
"""

from .faults import FAULT_KINDS, UPLOAD_PATH, Fault
from .keys import PlatformCertificate, SandboxKeys
from .records import Headers, ReceivedRequest, UploadedImage
from .server import CERTIFICATES_PATH, MODES, Sandbox

__all__ = [
    "CERTIFICATES_PATH",
    "FAULT_KINDS",
    "MODES",
    "UPLOAD_PATH",
    "Fault",
    "Headers",
    "PlatformCertificate",
    "ReceivedRequest",
    "Sandbox",
    "SandboxKeys",
    "UploadedImage",
]
