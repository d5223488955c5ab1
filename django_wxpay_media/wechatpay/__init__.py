"""The WeChat Pay APIv3 protocol (image upload, generic JSON calls, downloads), free of Django.

Nothing in this package imports Django or the rest of ``django_wxpay_media``.
"""

from . import errors
from .client import (
    BACKUP_BASE_URL,
    DEFAULT_BASE_URL,
    UPLOAD_PATH,
    ApiAnswer,
    Download,
    UploadResult,
    WeChatPayClient,
    is_loopback_url,
    valid_media_id,
)
from .keys import check_apiv3_key, load_private_key, load_public_key
from .signing import Signer, meta_json
from .transport import USER_AGENT
from .validation import (
    MAX_IMAGE_SIZE,
    PreparedImage,
    check_image,
    detect_format,
    normalize_filename,
    prepare_file,
    prepare_image,
)
from .verification import KeyStore

__all__ = [
    "BACKUP_BASE_URL",
    "DEFAULT_BASE_URL",
    "MAX_IMAGE_SIZE",
    "UPLOAD_PATH",
    "USER_AGENT",
    "ApiAnswer",
    "Download",
    "KeyStore",
    "PreparedImage",
    "Signer",
    "UploadResult",
    "WeChatPayClient",
    "check_apiv3_key",
    "check_image",
    "detect_format",
    "errors",
    "is_loopback_url",
    "load_private_key",
    "load_public_key",
    "meta_json",
    "normalize_filename",
    "prepare_file",
    "prepare_image",
    "valid_media_id",
]
