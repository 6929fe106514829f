"""Build a provider from explicit configuration values. Nothing is read at import time: the caller
(the composition root, a Celery task) reads its settings and passes them in.

    provider_from_settings("aliyun", access_key_id=..., access_key_secret=..., callback_token=...,
                           sms_sign_name=..., sms_template_code=..., called_show_number=...,
                           tts_code=..., client=httpx.AsyncClient(...))
    provider_from_settings("tencent", secret_id=..., secret_key=..., sdk_app_id=..., sign_name=...,
                           template_id=..., callback_token=..., client=...)
    provider_from_settings("simulator", behaviour={...}, default="accept", delay_seconds=5,
                           callback_token=...)

The keys are the fields of :class:`~expert_pool.notify.aliyun.AliyunConfig`,
:class:`~expert_pool.notify.tencent.TencentSmsConfig` and the keyword arguments of
:class:`~expert_pool.notify.simulator.SimulatedProvider`; ``client`` (an ``httpx.AsyncClient``)
and ``clock`` are passed to the provider itself. An unknown key is an error, not ignored.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from expert_pool.notify.aliyun import AliyunConfig, AliyunProvider
from expert_pool.notify.base import NotificationProvider
from expert_pool.notify.simulator import SimulatedProvider
from expert_pool.notify.tencent import TencentSmsConfig, TencentSmsProvider

PROVIDERS = ("aliyun", "tencent", "simulator")


def _split(config: dict[str, Any], config_type: type, provider_keys: tuple[str, ...]) -> tuple[dict, dict]:
    allowed = {f.name for f in dataclasses.fields(config_type)}
    own = {key: config.pop(key) for key in provider_keys if key in config}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for {config_type.__name__}; known: {sorted(allowed)}")
    return config, own


def provider_from_settings(name: str, **config: Any) -> NotificationProvider:
    kind = name.strip().lower()
    if kind == "aliyun":
        values, own = _split(dict(config), AliyunConfig, ("client", "clock", "nonce"))
        return AliyunProvider(AliyunConfig(**values), **own)
    if kind == "tencent":
        values, own = _split(dict(config), TencentSmsConfig, ("client", "clock"))
        return TencentSmsProvider(TencentSmsConfig(**values), **own)
    if kind == "simulator":
        try:
            return SimulatedProvider(**config)
        except TypeError as exc:
            raise ValueError(f"bad simulator setting: {exc}") from None
    raise ValueError(f"unknown notification provider {name!r}; one of {', '.join(PROVIDERS)}")
