"""Notifying drawn experts by SMS and voice, and reading their answers back.

:mod:`.base` is the interface (:class:`Invitation`, :class:`NotificationProvider`,
:class:`CallbackEvent`...), :mod:`.aliyun`, :mod:`.tencent` and :mod:`.simulator` the providers,
:func:`provider_from_settings` the factory. Notifications carry the time and place only.
"""

from expert_pool.notify.base import (
    DEFAULT_TEMPLATES,
    CallbackAuth,
    CallbackEvent,
    CallbackRejected,
    ChannelNotSupported,
    Invitation,
    MessageTemplates,
    NotificationProvider,
    ProviderError,
    ProviderReceipt,
)
from expert_pool.notify.registry import provider_from_settings

__all__ = [
    "DEFAULT_TEMPLATES",
    "CallbackAuth",
    "CallbackEvent",
    "CallbackRejected",
    "ChannelNotSupported",
    "Invitation",
    "MessageTemplates",
    "NotificationProvider",
    "ProviderError",
    "ProviderReceipt",
    "provider_from_settings",
]
