"""One merchant account: its settings judged, its keys loaded, held as one immutable value.

The default account is configured by the flat ``WXPAY_MEDIA``, more by its
``ACCOUNTS`` (judged together in :mod:`.registry`). Every rule about an account (:func:`judge_account`) takes the account's own dict
and the name of the setting it came from, which the messages quote; so that more
accounts (a named mapping of such dicts) are judged by the same rules, keep their
check ids, and become more :class:`AccountSettings` values, a client each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from .keys import _Keys, _private_key_problems, _verification_problems
from .problems import Problem, _base_url_problems, _required_problems, _type_problems
from .schema import SETTING_NAME

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ..wechatpay import WeChatPayClient
    from ..wechatpay.keys import Secret

#: The name of the account ``WXPAY_MEDIA`` itself configures.
DEFAULT_ACCOUNT = "default"


@sensitive_variables()
def judge_account(options: dict[str, Any], setting: str = SETTING_NAME) -> tuple[list[Problem], _Keys | None]:
    """E004–E018 for one account's dict, in the order a developer should fix them, and its loaded keys.

    ``setting`` is where the dict is configured (``"WXPAY_MEDIA"``); messages and
    hints name it. The keys are ``None`` when a text setting has the wrong type.
    """
    found = _required_problems(options, setting)
    type_problems = _type_problems(options, setting)
    found.extend(type_problems)
    loaded = None
    if not type_problems:  # the key rules assume text; a wrong type was reported already
        private_key, private_problems = _private_key_problems(options, setting)
        public_key, apiv3_key, verification_problems = _verification_problems(options, setting)
        found.extend(private_problems)
        found.extend(verification_problems)
        loaded = _Keys(private_key=private_key, public_key=public_key, apiv3_key=apiv3_key)
    found.extend(_base_url_problems(options, setting))
    return found, loaded


@dataclass(frozen=True, repr=False)
class AccountSettings:
    """Everything one merchant account's client is built from, judged valid and loaded once.

    Built by :func:`account_settings` from a setting without errors; never holds
    key text outside a ``Secret`` or a key object, and its ``repr`` shows no key.
    """

    name: str
    setting: str  # where it is configured, for messages: "WXPAY_MEDIA"
    mchid: str
    merchant_serial_no: str
    private_key: rsa.RSAPrivateKey
    public_key: rsa.RSAPublicKey | None
    public_key_id: str | None
    apiv3_key: Secret | None
    #: Whether platform certificates are downloaded: ``PLATFORM_CERTIFICATES``, by default
    #: only without a WeChat Pay public key (the APIv3 key then only decrypts notifications).
    platform_certificates: bool
    base_url: str
    timeout: float
    max_retries: int
    retry_backoff: float
    #: A service provider (服务商) lists and answers its sub-merchants' complaints.
    service_provider: bool = False
    #: The sub-merchants this site handles (``None``: all); only for a service provider.
    sub_merchants: frozenset[str] | None = None

    def __repr__(self) -> str:
        return f"AccountSettings(name={self.name!r}, mchid={self.mchid!r}, verification={self.verification!r})"

    @property
    def verification(self) -> str:
        """How answers are verified: ``"public_key"`` (WeChat Pay public key) or ``"platform_certificates"``."""
        return "public_key" if self.public_key is not None else "platform_certificates"

    def handles(self, complainted_mchid: str) -> bool:
        """Whether complaints about merchant ``complainted_mchid`` are this site's through this account.

        Every complaint WeChat Pay lists for the account, except that a service
        provider with ``SUB_MERCHANTS`` handles only those sub-merchants'.
        """
        return self.sub_merchants is None or complainted_mchid in self.sub_merchants

    @sensitive_variables()
    def build_client(self) -> WeChatPayClient:
        """A new :class:`~django_wxpay_media.wechatpay.WeChatPayClient` for this account."""
        # Imported here so that reading settings (and importing models) stays cheap.
        from ..wechatpay import WeChatPayClient
        from ..wechatpay.errors import ConfigurationError

        try:
            # Key objects, not text, cross into the protocol layer; the APIv3 key stays
            # in its Secret, which the protocol layer opens only at the AES-GCM call.
            return WeChatPayClient(
                mchid=self.mchid,
                merchant_serial_no=self.merchant_serial_no,
                private_key=self.private_key,
                public_key=self.public_key,
                public_key_id=self.public_key_id,
                apiv3_key=self.apiv3_key,
                certificates=self.platform_certificates,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
                retry_backoff=self.retry_backoff,
            )
        except ConfigurationError as exc:
            # The protocol layer's messages never quote key text; keep them, drop the
            # chain (its frames hold the keys it was given).
            raise ImproperlyConfigured(f"{self.setting}: {exc}") from None


@sensitive_variables()
def account_settings(
    options: dict[str, Any], keys: _Keys | None, *, name: str = DEFAULT_ACCOUNT, setting: str = SETTING_NAME
) -> AccountSettings:
    """The :class:`AccountSettings` of a judged account: ``options`` merged over the defaults, ``keys`` loaded.

    Only for an account :func:`judge_account` found no error in; a missing private
    key here is a bug in this package, reported without key text.
    """
    if keys is None or keys.private_key is None:  # unreachable: no error means the key was loaded
        raise ImproperlyConfigured(f"{setting}: the merchant private key could not be loaded.")
    sub_merchants = options.get("SUB_MERCHANTS")
    return AccountSettings(
        name=name,
        setting=setting,
        mchid=str(options["MCHID"]),
        merchant_serial_no=str(options["MERCHANT_SERIAL_NO"]),
        private_key=keys.private_key,
        public_key=keys.public_key,
        public_key_id=str(options["WECHATPAY_PUBLIC_KEY_ID"]) if keys.public_key is not None else None,
        apiv3_key=keys.apiv3_key,
        platform_certificates=(
            keys.public_key is None
            if options.get("PLATFORM_CERTIFICATES") is None
            else options["PLATFORM_CERTIFICATES"]
        ),
        base_url=str(options["API_BASE_URL"]),
        timeout=float(options["TIMEOUT"]),
        max_retries=int(options["MAX_RETRIES"]),
        retry_backoff=float(options["RETRY_BACKOFF"]),
        service_provider=bool(options.get("SERVICE_PROVIDER", False)),
        sub_merchants=None if sub_merchants is None else frozenset(str(m) for m in sub_merchants),
    )
