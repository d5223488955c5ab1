"""exceptions.py: UploadFailed and the translated, staff-facing texts.error_message()."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation

from django_wxpay_media import texts
from django_wxpay_media.exceptions import (
    FileUnreadableError,
    MerchantMismatchError,
    RecordedError,
    StorageError,
    StoredFileChangedError,
    StoredFileError,
    StoredFileMissingError,
    UploadFailed,
    UploadInProgressError,
    WxpayMediaError,
)
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.texts import MESSAGES
from django_wxpay_media.wechatpay import MAX_IMAGE_SIZE, errors, prepare_image

CJK = re.compile(r"[\u4e00-\u9fff]")


def api_error(cls, message="参数错误：文件名", code=None, status=400):
    return cls(message, status=status, code=code, request_id="08F0A1B2C3", verified=False)


def validation_error(data: bytes, filename: str = "x.png") -> errors.ImageValidationError:
    with pytest.raises(errors.ImageValidationError) as excinfo:
        prepare_image(data, filename)
    return excinfo.value


CASES = {
    "EMPTY_FILE": lambda: validation_error(b""),
    "FILE_TOO_LARGE": lambda: validation_error(b"\xff\xd8\xff" + b"\x00" * MAX_IMAGE_SIZE),
    "UNSUPPORTED_FORMAT": lambda: validation_error(b"GIF89a....", "x.gif"),
    "SYSTEM_ERROR": lambda: api_error(errors.WeChatPaySystemError, "系统错误", status=500),
    "PARAM_ERROR": lambda: api_error(errors.ParamError),
    "FREQUENCY_LIMITED": lambda: api_error(errors.FrequencyLimitedError, "频率超限", status=429),
    "INVALID_REQUEST": lambda: api_error(errors.InvalidRequestError, "不符合业务规则"),
    "SIGN_ERROR": lambda: api_error(errors.SignError, "签名错误", status=401),
    "NO_AUTH": lambda: api_error(errors.NoAuthError, "无权限", status=403),
    "TIMEOUT": lambda: errors.WeChatPayTimeout("did not answer", url="https://api.mch.weixin.qq.com/x"),
    "CONNECTION_ERROR": lambda: errors.WeChatPayConnectionError("refused", url="https://api.mch.weixin.qq.com/x"),
    "SIGNATURE_INVALID": lambda: errors.SignatureVerificationError("bad", status=200, reason="bad_signature"),
    "INVALID_RESPONSE": lambda: errors.InvalidResponseError("Bad Gateway", status=502),
    "FILE_MISSING": lambda: StoredFileMissingError("gone"),
    "UPLOAD_IN_PROGRESS": lambda: UploadInProgressError("busy"),
    "MERCHANT_MISMATCH": lambda: MerchantMismatchError("other", mchid="1900000002", current="1900000001"),
    "FILE_UNREADABLE": lambda: FileUnreadableError("cannot read", reason="Permission denied"),
    "STORAGE_ERROR": lambda: StorageError("disk full"),
    "FILE_CHANGED": lambda: StoredFileChangedError("changed"),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_code_has_its_own_translated_message(code):
    exc = CASES[code]()
    assert exc.code == code
    english = texts.error_message(exc)
    assert english and "%(" not in english
    others = {texts.error_message(CASES[c]()) for c in CASES if c != code}
    assert english not in others
    with translation.override("zh-hans"):
        chinese = texts.error_message(exc)
    assert chinese != english
    assert CJK.search(chinese), chinese


def test_size_is_human_readable():
    just_over = texts.error_message(CASES["FILE_TOO_LARGE"]())
    assert f"{MAX_IMAGE_SIZE + 3:,} bytes" in just_over and f"{MAX_IMAGE_SIZE:,} bytes" in just_over
    twice = texts.error_message(validation_error(b"\xff\xd8\xff" + b"\x00" * 2 * MAX_IMAGE_SIZE))
    assert "4.0\xa0MB" in twice and "2.0\xa0MB" in twice


def test_wechat_message_is_quoted_where_it_helps():
    assert "参数错误：文件名" in texts.error_message(api_error(errors.ParamError))
    assert "不符合业务规则" in texts.error_message(api_error(errors.InvalidRequestError, "不符合业务规则"))


def test_unknown_wechat_code_is_shown():
    exc = api_error(errors.WeChatPayAPIError, "新的错误", code="RESOURCE_NOT_EXISTS", status=404)
    message = texts.error_message(exc)
    assert "RESOURCE_NOT_EXISTS" in message and "新的错误" in message


def test_families_fall_back_sensibly():
    assert texts.error_message(errors.TransportError("x")) == str(MESSAGES["TRANSPORT_ERROR"])
    assert texts.error_message(errors.ImageValidationError("x")) == str(MESSAGES["INVALID_IMAGE"])
    assert texts.error_message(errors.ConfigurationError("x")) == str(MESSAGES["CONFIGURATION"])
    assert texts.error_message(ImproperlyConfigured("WXPAY_MEDIA['MCHID'] is missing")) == str(
        MESSAGES["CONFIGURATION"]
    )
    assert texts.error_message(RuntimeError("boom")) == "The upload to WeChat Pay failed."


def test_configuration_message_does_not_repeat_the_developer_text():
    message = texts.error_message(
        ImproperlyConfigured("WXPAY_MEDIA['PRIVATE_KEY_PATH'] = '/secret/path' cannot be read")
    )
    assert "/secret/path" not in message


def test_upload_failed_carries_record_and_cause():
    image = FeedbackImage(pk=7, filename="r.png", status=FeedbackImage.Status.FAILED)
    cause = api_error(errors.ParamError)
    exc = UploadFailed(image, cause)
    assert exc.image is image and exc.error is cause
    assert exc.code == "PARAM_ERROR"
    assert exc.request_id == "08F0A1B2C3"
    assert str(exc).startswith("Uploading 'r.png' (FeedbackImage 7) failed: WeChat Pay error PARAM_ERROR")
    assert texts.error_message(exc) == texts.error_message(cause)
    assert UploadFailed(image, errors.WeChatPayTimeout("t")).request_id is None


def test_recorded_error_explains_like_the_original():
    image = FeedbackImage(error_code="NO_AUTH", error_message="WeChat Pay error NO_AUTH: 无权限", request_id="R1")
    recorded = RecordedError.from_image(image)
    assert (recorded.code, recorded.request_id, str(recorded)) == ("NO_AUTH", "R1", image.error_message)
    assert texts.error_message(recorded) == texts.error_message(api_error(errors.NoAuthError, status=403))
    unknown = RecordedError.from_image(FeedbackImage(error_code="SOMETHING_NEW", error_message="m"))
    assert "SOMETHING_NEW" in texts.error_message(unknown)


def test_messages_never_show_key_material():
    secret = "-" * 5 + "BEGIN PRIVATE KEY" + "-" * 5 + "MIIEvQ"  # key-shaped text, no key
    for factory in CASES.values():
        exc = factory()
        assert "BEGIN" not in texts.error_message(exc)
    assert secret not in texts.error_message(errors.ConfigurationError(secret))


@pytest.mark.parametrize(
    "cls",
    [
        FileUnreadableError,
        StorageError,
        StoredFileError,
        StoredFileMissingError,
        StoredFileChangedError,
        UploadInProgressError,
        MerchantMismatchError,
        RecordedError,
        UploadFailed,
    ],
)
def test_the_django_layers_errors_have_their_own_root(cls):
    # Protocol errors come from wechatpay/; these are the Django layer's and do not pretend otherwise.
    assert issubclass(cls, WxpayMediaError)
    assert not issubclass(cls, errors.WeChatPayError)


def test_upload_failed_without_a_record():
    cause = errors.UnsupportedImageFormatError("gif")
    exc = UploadFailed(None, cause)
    assert exc.image is None and exc.code == "UNSUPPORTED_FORMAT" and exc.outcome is None
    assert str(exc) == "Upload failed: gif"
    assert texts.error_message(exc) == texts.error_message(cause)


def test_unreadable_file_quotes_the_reason():
    assert texts.error_message(CASES["FILE_UNREADABLE"]()) == "cannot read the file: Permission denied"
    with translation.override("zh-hans"):
        assert "Permission denied" in texts.error_message(CASES["FILE_UNREADABLE"]())


def test_sentences_live_in_texts_only():
    """The errors carry codes; texts reads them (the old exceptions.user_message/MESSAGES are gone)."""
    from django_wxpay_media import exceptions

    assert not hasattr(exceptions, "user_message") and not hasattr(exceptions, "MESSAGES")


# -- one coded base (issue 15) ------------------------------------------------------------------


def test_both_roots_stand_on_one_coded_base():
    assert issubclass(errors.WeChatPayError, errors.CodedError)
    assert issubclass(WxpayMediaError, errors.CodedError)
    # Still two roots: a Django-layer error is not the protocol's, and the reverse.
    assert not issubclass(WxpayMediaError, errors.WeChatPayError)
    assert not issubclass(errors.WeChatPayError, WxpayMediaError)
    for exc in (StorageError("disk full"), errors.ParamError("bad", code="PARAM_ERROR")):
        assert isinstance(exc, errors.CodedError) and exc.code and str(exc)


def test_a_new_code_is_explained_by_its_family():
    """A code without its own sentence gets its family's: the base's family_code, not a list of classes."""

    class NewTransportFailure(errors.TransportError):
        code = "NEW_TRANSPORT_FAILURE"

    class NewOwnError(WxpayMediaError):
        code = "NEW_OWN_ERROR"
        family_code = "STORAGE_ERROR"

    assert texts.error_message(NewTransportFailure("x")) == str(MESSAGES["TRANSPORT_ERROR"])
    assert texts.error_message(NewOwnError("x")) == str(MESSAGES["STORAGE_ERROR"])
    assert texts.error_message(UploadFailed(None, NewOwnError("x"))) == str(MESSAGES["STORAGE_ERROR"])


def test_one_table_gives_the_sentence_and_the_field_error():
    from django_wxpay_media.forms import FeedbackImageField

    field = FeedbackImageField()
    for code, text in texts.ERRORS.items():
        assert texts.MESSAGES[code] is text.message
        if text.field is not None:
            assert texts.FIELD_CODES[code] == text.field
            assert texts.FIELD_ERRORS[text.field] is text.field_message
            assert field.error_messages[text.field] is text.field_message
    # The form field reads the table: an image error with a field error of its own gets it.
    for code in ("EMPTY_FILE", "UNSUPPORTED_FORMAT", "FILE_TOO_LARGE"):
        error_class = next(c for c in vars(errors).values() if getattr(c, "code", None) == code)
        assert field.validation_error(error_class("x", size=1), "a.png").code == texts.FIELD_CODES[code]
    assert field.validation_error(errors.CorruptImageError("x"), "a.png").code == "invalid_image"
