"""Reading ``WXPAY_MEDIA``: read, merged and judged once per change, then answered from memory.

:func:`judged` holds the current :class:`JudgedSetting`. It is dropped by the
``setting_changed`` handler in :mod:`django_wxpay_media.conf` (``WXPAY_MEDIA``,
``STORAGES`` and ``DEBUG`` decide problems) and by ``reset_client()``; it is also
rebuilt when one of those settings is no longer the object it was judged from, for
changes that send no signal (``del settings.WXPAY_MEDIA`` under pytest-django).
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from .accounts import DEFAULT_ACCOUNT, AccountSettings, account_settings
from .keys import _Keys
from .problems import (
    ConfigurationProblem,
    Problem,
    _option_problems,
    _option_value_problems,
    _required_problems,
    _shape_problems,
)
from .registry import JudgedAccount, judge_accounts, named_entries
from .registry import account_setting as _account_setting
from .schema import DEFAULTS, REQUIRED_IDS, SETTING_NAME, user_settings


@sensitive_variables()
def _evaluate(options: Any) -> tuple[list[Problem], list[Problem], dict[str, JudgedAccount]]:
    """Every problem with ``options`` (in the order a developer should fix them), those of no one
    account (shape, options, several accounts), and each account as judged."""
    found = _shape_problems(options)
    if options is None or not isinstance(options, dict):
        return found, list(found), {}
    shared, accounts = judge_accounts(options)
    default = accounts[DEFAULT_ACCOUNT]
    general = found + _option_problems(options) + shared
    found.extend(default.problems)
    found.extend(_option_problems(options))
    for name, account in accounts.items():
        if name != DEFAULT_ACCOUNT:
            found.extend(account.problems)
    found.extend(shared)
    return found, general, accounts


def _first_error(problems: list[Problem]) -> Problem | None:
    return next((problem for problem in problems if problem.is_error), None)


def _raise_first(problems: list[Problem]) -> None:
    problem = _first_error(problems)
    if problem is not None:
        raise ConfigurationProblem(problem)


class JudgedSetting:
    """``WXPAY_MEDIA`` as read once: the merged options, and (on first need) every problem and the keys.

    Immutable once built; :func:`judged` hands out the same object until a setting
    it depends on changes. ``options`` is ``None`` when the setting's shape or an
    option value is wrong, and ``options_problem`` says which (what :func:`get_settings`
    raises). :attr:`problems` and :attr:`keys` read key files and parse keys, so
    they are computed only when asked for.
    """

    @sensitive_variables()
    def __init__(self, given: Any, sources: _Sources) -> None:
        self.sources = sources
        self.given = given  # settings.WXPAY_MEDIA with key text wrapped in Secret, or None
        given_or_empty = {} if given is None else given
        self.options_problem = _first_error(_shape_problems(given_or_empty))
        self.options: dict[str, Any] | None = None
        if self.options_problem is None:
            merged = {**DEFAULTS, **{k: v for k, v in given_or_empty.items() if v is not None}}
            self.options_problem = _first_error(_option_value_problems(merged))
            if self.options_problem is None:
                self.options = merged
        # What reading a required key raises: the setting missing (E001), or the key (E004, E005).
        absent = _shape_problems(None)[0] if given is None else None
        required = {p.id: p for p in _required_problems(self.options or {})}
        self.missing: dict[str, Problem] = {
            name: absent or required[code] for name, code in REQUIRED_IDS.items() if absent or code in required
        }

    def __repr__(self) -> str:
        return "<JudgedSetting>"  # never the options: they hold key text

    @cached_property
    def _evaluated(self) -> tuple[tuple[Problem, ...], tuple[Problem, ...], dict[str, JudgedAccount]]:
        problems, general, accounts = _evaluate(self.given)
        return tuple(problems), tuple(general), accounts

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Every problem (errors and warnings), in the order a developer should fix them."""
        return self._evaluated[0]

    @property
    def keys(self) -> _Keys | None:
        """The default account's keys loaded while judging; ``None`` when the setting is not a dict or has a wrong type."""
        default = self._evaluated[2].get(DEFAULT_ACCOUNT)
        return None if default is None else default.keys

    @cached_property
    def account_names(self) -> tuple[str, ...]:
        """The site's account names, the default first; raises like :func:`get_settings` for a bad setting."""
        return (DEFAULT_ACCOUNT, *named_entries(_options(self)))

    @cached_property
    def _accounts(self) -> dict[str, AccountSettings]:
        return {}  # filled per name by account_named(); the judged setting never changes

    def account_named(self, name: str) -> AccountSettings:
        """Account ``name``'s settings; raises its first error, or one of the whole setting's."""
        cached = self._accounts.get(name)
        if cached is not None:
            return cached
        if name not in self.account_names:
            known = ", ".join(repr(n) for n in self.account_names)
            raise ImproperlyConfigured(
                f"{name!r} is not a merchant account of {SETTING_NAME}; the accounts are {known}."
            )
        _, general, accounts = self._evaluated
        _raise_first(list(general))  # no account without a dict setting: E001 or E002 is here then
        judged_account = accounts[name]
        _raise_first(list(judged_account.problems))
        options = judged_account.options
        result = account_settings(options, judged_account.keys, name=name, setting=_account_setting(name))
        return self._accounts.setdefault(name, result)  # a racing thread's equal value is as good

    @property
    def account(self) -> AccountSettings:
        """The default account's settings; raises the first error (:class:`ConfigurationProblem`) if any."""
        return self.account_named(DEFAULT_ACCOUNT)

    @property
    def is_configured(self) -> bool:
        """No error among :attr:`problems` (warnings are fine)."""
        return not any(problem.is_error for problem in self.problems)


_current: JudgedSetting | None = None
_current_lock = threading.Lock()


class _Sources:
    """The settings a judgement was made from, as the objects they were (raw: key text unwrapped)."""

    __slots__ = ("objects",)

    def __init__(self) -> None:
        self.objects = (getattr(settings, SETTING_NAME, None), settings.STORAGES, settings.DEBUG)

    def __repr__(self) -> str:
        return "<settings: hidden>"  # error reports print frames' locals; these hold key text

    def same_as(self, other: _Sources) -> bool:
        """Every setting still the very object it was: nothing changed, with or without a signal."""
        return all(a is b for a, b in zip(self.objects, other.objects, strict=True))


def judged() -> JudgedSetting:
    """The current :class:`JudgedSetting`: the same object until a setting it depends on changes."""
    global _current
    sources = _Sources()
    current = _current
    if current is not None and current.sources.same_as(sources):
        return current
    with _current_lock:
        current = JudgedSetting(user_settings(), sources)
        _current = current
    return current


def forget() -> None:
    """Drop the judged setting; the next read judges ``WXPAY_MEDIA`` afresh."""
    global _current
    with _current_lock:
        _current = None


def configuration_problems() -> list[Problem]:
    """Everything missing or wrong in ``WXPAY_MEDIA`` (errors and warnings), each once.

    The system checks report exactly these. An admin page can use it (or
    :func:`is_configured`) to show staff a banner before anyone tries an upload;
    the messages are English for developers, so show staff a translated sentence
    of your own and keep the messages for the site's developers.
    Judged once per change of the setting (key files read and keys parsed then).
    """
    return list(judged().problems)


def is_configured() -> bool:
    """True when uploads can be made: ``WXPAY_MEDIA`` has no error (warnings are fine)."""
    return judged().is_configured


@sensitive_variables()
def get_settings() -> dict[str, Any]:
    """``WXPAY_MEDIA`` merged over :data:`DEFAULTS` (key text wrapped in ``Secret``).

    Raises :class:`ConfigurationProblem` (an ``ImproperlyConfigured``) when the
    setting is not a dict, names an unknown key, or has an option of the wrong
    type. Required keys are checked by :func:`get_setting` instead, so that
    options such as ``STORAGE`` can be read (e.g. to list stored images) before the
    merchant keys are filled in; an absent setting is read as ``{}``.
    """
    return dict(_options(judged()))


@sensitive_variables()
def _options(current: JudgedSetting) -> dict[str, Any]:
    if current.options is None:
        raise ConfigurationProblem(current.options_problem)  # type: ignore[arg-type]  # None only with a problem
    return current.options


@sensitive_variables()
def get_setting(name: str) -> Any:
    """One ``WXPAY_MEDIA`` value, its default if the project did not set it.

    A required key (``MCHID``, ``MERCHANT_SERIAL_NO``) that is missing raises
    :class:`ConfigurationProblem` naming exactly what to add.
    """
    if name not in DEFAULTS:
        raise KeyError(f"{name!r} is not a {SETTING_NAME} key")  # a bug in this package, not in settings
    current = judged()
    merged = get_settings() if current.options is None else current.options  # get_settings() raises
    missing = current.missing.get(name)
    if missing is not None:
        raise ConfigurationProblem(missing)
    return merged[name]


def get_account(name: str | None = None) -> AccountSettings:
    """The settings of merchant account ``name`` (``None``: the default one, ``WXPAY_MEDIA`` itself).

    Judged once per change of the setting; raises :class:`ConfigurationProblem`
    for the account's first error, as building its client does, and
    ``ImproperlyConfigured`` naming the known accounts for an unknown name.
    """
    return judged().account_named(name or DEFAULT_ACCOUNT)


def account_names() -> tuple[str, ...]:
    """The names of the site's merchant accounts: ``"default"`` first, then ``ACCOUNTS`` in order.

    Needs no key: reading them never fails for a key problem (only for a bad setting).
    """
    return judged().account_names


def accounts() -> list[AccountSettings]:
    """Every merchant account's settings, the default first; raises the first error of any."""
    current = judged()
    return [current.account_named(name) for name in current.account_names]


def get_mchid() -> str:
    """The merchant number uploads are made for (``WXPAY_MEDIA['MCHID']``) as text."""
    return str(get_setting("MCHID"))


def background_notifications_backend() -> str | None:
    """The ``TASKS`` alias complaint notifications' refreshes go to, or ``None`` to refresh in the request.

    From ``WXPAY_MEDIA['BACKGROUND_NOTIFICATIONS']``, as :func:`background_uploads_backend`.
    """
    value = get_setting("BACKGROUND_NOTIFICATIONS")
    if value is False:
        return None
    return "default" if value is True else str(value)


def background_uploads_backend() -> str | None:
    """The ``TASKS`` alias uploads are enqueued on, or ``None`` to upload in the request.

    From ``WXPAY_MEDIA['BACKGROUND_UPLOADS']``: ``False`` (the default) gives ``None``,
    ``True`` the default task backend (``"default"``), a string that alias.
    """
    value = get_setting("BACKGROUND_UPLOADS")
    if value is False:
        return None
    return "default" if value is True else str(value)
