"""``manage.py wxpay_media doctor``: do the merchant's settings agree with WeChat Pay?

One harmless signed call, nothing uploaded or changed: in certificate mode the
platform certificate list (``GET /v3/certificates``, decrypted with the APIv3 key),
otherwise one page of today's complaints (``GET /v3/merchant-service/complaints-v2``,
one item), whose answer WeChat Pay signs. What WeChat Pay says about the request
tells whether the merchant number, the certificate serial and the private key
agree; whether its answer verifies tells whether the WeChat Pay key agrees.
:func:`diagnose` returns the verdict as a value; the command prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from . import conf
from .wechatpay import WeChatPayClient, errors
from .wechatpay import complaints as wc

__all__ = ["Diagnosis", "diagnose"]


@dataclass
class Diagnosis:
    """The doctor's verdict: ``ok`` only when everything agrees; ``lines`` say what was found."""

    ok: bool = False
    lines: list[str] = field(default_factory=list)


def _call(client: WeChatPayClient) -> str:
    """Make the one call; returns which key verified the answer (for the report)."""
    if client.keys.public_key_id is None:  # certificate mode: the list is the call
        client.keys.refresh_certificates(force=True)
        return _("the platform certificates (decrypted with APIV3_KEY)")
    today = wc.beijing_today()
    wc.list_complaints(client, today, today, limit=1)
    return _("the WeChat Pay public key %(id)s") % {"id": client.keys.public_key_id}


def _refused(error: errors.WeChatPayAPIError, mchid: str, serial: str) -> str:
    """Why WeChat Pay refused the request, in words that name the setting to check."""
    said = error.message.lower()
    if error.code == "MCH_NOT_EXISTS" or "mchid" in said or "商户号" in said:
        return _(
            "WeChat Pay refused the request (%(code)s): the merchant number %(mchid)s does not match the "
            "certificate. Check MCHID: it must be the merchant the API certificate belongs to."
        ) % {"code": error.code, "mchid": mchid}
    if "serial" in said or "序列号" in said or "证书" in said:
        return _(
            "WeChat Pay refused the request (%(code)s): it does not know the certificate serial %(serial)s. "
            "Check MERCHANT_SERIAL_NO: it must be the serial of the merchant API certificate."
        ) % {"code": error.code, "serial": serial}
    return _(
        "WeChat Pay refused the request's signature (%(code)s): the private key does not belong to the "
        "certificate MERCHANT_SERIAL_NO names. Check PRIVATE_KEY or PRIVATE_KEY_PATH (apiclient_key.pem)."
    ) % {"code": error.code}


def _unverified(error: errors.SignatureVerificationError) -> str:
    if error.reason == "unknown_serial":
        return _(
            "WeChat Pay signed its answer with a key this site does not know. Check WECHATPAY_PUBLIC_KEY_ID "
            "(or, in certificate mode, APIV3_KEY and the merchant platform's certificates)."
        )
    if error.reason == "stale_timestamp":
        return _("WeChat Pay's answer is too old or from the future: check this server's clock.")
    return _(
        "WeChat Pay's answer does not verify with the configured key: WECHATPAY_PUBLIC_KEY is not the public "
        "key of WECHATPAY_PUBLIC_KEY_ID (download it again from the merchant platform)."
    )


def diagnose(account: str | None = None) -> Diagnosis:
    """Check merchant account ``account`` of ``WXPAY_MEDIA`` (default: the default one) against
    WeChat Pay with one signed read; never raises for a finding."""
    result = Diagnosis()
    try:
        client = conf.build_client(account)
    except ImproperlyConfigured as exc:
        result.lines.append(
            _("The settings are incomplete: %(error)s Run “python manage.py check --deploy”.") % {"error": exc}
        )
        return result
    mchid, serial = client.signer.mchid, client.signer.serial_no
    result.lines.append(
        _("Asking WeChat Pay at %(url)s as merchant %(mchid)s, certificate %(serial)s (nothing is uploaded).")
        % {"url": client.base_url, "mchid": mchid, "serial": serial}
    )
    agreed = _("MCHID, MERCHANT_SERIAL_NO and the private key agree: WeChat Pay accepted the signed request.")
    try:
        with client:
            verified_by = _call(client)
    except errors.SignatureVerificationError as exc:
        result.lines += [agreed, _unverified(exc)]
    except errors.ConfigurationError as exc:  # the certificates did not decrypt: the APIv3 key
        result.lines += [agreed, _("APIV3_KEY is wrong: %(error)s") % {"error": exc}]
    except errors.WeChatPayAPIError as exc:
        if exc.code in ("SIGN_ERROR", "MCH_NOT_EXISTS", "INVALID_REQUEST") and exc.status in (400, 401, 403, 404):
            result.lines.append(_refused(exc, mchid, serial))
        elif exc.code == "NO_AUTH":
            result.lines += [
                agreed,
                _(
                    "WeChat Pay answered NO_AUTH: this merchant may not use the consumer complaint API, so "
                    "the WeChat Pay key could not be checked. Apply for it in the merchant platform."
                ),
            ]
        else:
            result.lines.append(_("WeChat Pay answered with an error: %(error)s") % {"error": exc})
    except errors.TransportError as exc:
        result.lines.append(
            _("WeChat Pay could not be reached: %(error)s Check API_BASE_URL and outbound HTTPS.") % {"error": exc}
        )
    except errors.WeChatPayError as exc:
        result.lines.append(_("The check failed: %(error)s") % {"error": exc})
    else:
        result.ok = True
        result.lines += [
            agreed,
            _("The WeChat Pay key agrees: the answer verified with %(key)s.") % {"key": verified_by},
            _("All agree: uploads and the complaint desk can talk to WeChat Pay."),
        ]
    return result
