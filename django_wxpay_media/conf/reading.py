"""Reading ``WXPAY_MEDIA``: every problem in order, the merged options, one value."""

from __future__ import annotations

from typing import Any

from django.views.decorators.debug import sensitive_variables

from .keys import _Keys, _private_key_problems, _verification_problems
from .problems import (
    ConfigurationProblem,
    Problem,
    _base_url_problems,
    _option_problems,
    _option_value_problems,
    _required_problems,
    _shape_problems,
    _type_problems,
)
from .schema import DEFAULTS, REQUIRED_IDS, SETTING_NAME, user_settings


@sensitive_variables()
def _evaluate() -> tuple[list[Problem], _Keys | None]:
    """Every problem with ``WXPAY_MEDIA``, in the order a developer should fix them, and the loaded keys."""
    options = user_settings()
    found = _shape_problems(options)
    if options is None or not isinstance(options, dict):
        return found, None
    found.extend(_required_problems(options))
    type_problems = _type_problems(options)
    found.extend(type_problems)
    loaded = None
    if not type_problems:  # the key rules assume text; a wrong type was reported already
        private_key, private_problems = _private_key_problems(options)
        public_key, apiv3_key, verification_problems = _verification_problems(options)
        found.extend(private_problems)
        found.extend(verification_problems)
        loaded = _Keys(private_key=private_key, public_key=public_key, apiv3_key=apiv3_key)
    found.extend(_base_url_problems(options))
    found.extend(_option_problems(options))
    return found, loaded


def configuration_problems() -> list[Problem]:
    """Everything missing or wrong in ``WXPAY_MEDIA`` (errors and warnings), each once.

    The system checks report exactly these. An admin page can use it (or
    :func:`is_configured`) to show staff a banner before anyone tries an upload;
    the messages are English for developers, so show staff a translated sentence
    of your own and keep the messages for the site's developers.
    Reads key files and parses keys, so call it per request at most, not per row.
    """
    return _evaluate()[0]


def _raise_first(problems: list[Problem]) -> None:
    for problem in problems:
        if problem.is_error:
            raise ConfigurationProblem(problem)


@sensitive_variables("options", "merged")
def get_settings() -> dict[str, Any]:
    """``WXPAY_MEDIA`` merged over :data:`DEFAULTS` (key text wrapped in ``Secret``).

    Raises :class:`ConfigurationProblem` (an ``ImproperlyConfigured``) when the
    setting is not a dict, names an unknown key, or has an option of the wrong
    type. Required keys are checked by :func:`get_setting` instead, so that
    options such as ``STORAGE`` can be read (e.g. to list stored images) before the
    merchant keys are filled in; an absent setting is read as ``{}``.
    """
    options = user_settings()
    if options is None:
        options = {}
    _raise_first(_shape_problems(options))
    merged = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    _raise_first(_option_value_problems(merged))
    return merged


@sensitive_variables("merged")
def get_setting(name: str) -> Any:
    """One ``WXPAY_MEDIA`` value, its default if the project did not set it.

    A required key (``MCHID``, ``MERCHANT_SERIAL_NO``) that is missing raises
    :class:`ConfigurationProblem` naming exactly what to add.
    """
    if name not in DEFAULTS:
        raise KeyError(f"{name!r} is not a {SETTING_NAME} key")  # a bug in this package, not in settings
    merged = get_settings()
    if name in REQUIRED_IDS:
        if user_settings() is None:
            _raise_first(_shape_problems(None))
        _raise_first([p for p in _required_problems(merged) if p.id == REQUIRED_IDS[name]])
    return merged[name]


def get_mchid() -> str:
    """The merchant number uploads are made for (``WXPAY_MEDIA['MCHID']``) as text."""
    return str(get_setting("MCHID"))


def background_uploads_backend() -> str | None:
    """The ``TASKS`` alias uploads are enqueued on, or ``None`` to upload in the request.

    From ``WXPAY_MEDIA['BACKGROUND_UPLOADS']``: ``False`` (the default) gives ``None``,
    ``True`` the default task backend (``"default"``), a string that alias.
    """
    value = get_setting("BACKGROUND_UPLOADS")
    if value is False:
        return None
    return "default" if value is True else str(value)
