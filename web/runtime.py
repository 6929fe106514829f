"""The composition root: everything a process needs, built once from the settings.

The web app, the command line and tests build a :class:`Runtime`; each domain registers
its stream reducers here at start-up (supervision knows no domain by itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import evaluation.warning_rules  # noqa: F401 - registers the evaluation's warning rules
import expert_pool.warning_rules  # noqa: F401
import trading.warning_rules  # noqa: F401
from ca_interop.platform_keys import Ed25519PlatformSigner, PlatformSigner
from ca_interop.platform_seal import PlatformSeal, load_platform_seal
from ca_interop.revocation import (
    HttpRevocationTransport,
    MirrorRevocationTransport,
    RevocationSource,
)
from ca_interop.timestamps import TimestampAuthority
from ca_interop.tsa_config import load_timestamp_authority
from core.blobs import BlobStore
from core.database import Database
from core.settings import Settings
from evaluation import committee_hook
from evaluation import replay as evaluation_replay
from evaluation import scopes as evaluation_scopes
from expert_pool import draws as expert_draws
from expert_pool import events as expert_events
from expert_pool.notify.base import NotificationProvider
from expert_pool.notify.registry import provider_from_settings
from identities import events as identity_events
from identities import trust_events
from supervision import replay_access
from supervision.replay import StreamRegistry
from supervision.warnings import events as warning_events
from trading import (
    award_events,
    bid_events,
    complaint_events,
    opening_events,
    price_bidding_events,
)
from trading import events as trading_events
from trading import reporting as trading_reporting
from trading import scopes as trading_scopes
from web import replay_sealed


def build_registry() -> StreamRegistry:
    registry = StreamRegistry()
    identity_events.register(registry)
    trust_events.register(registry)
    expert_events.register(registry)
    expert_draws.register(registry)
    trading_events.register(registry)
    bid_events.register(registry)
    opening_events.register(registry)
    award_events.register(registry)
    price_bidding_events.register(registry)  # competition:<id>
    evaluation_replay.register(registry)
    complaint_events.register(registry)  # complaint:<id> and case:<id>
    trading_reporting.register(registry)  # report_batch:<id>
    warning_events.register(registry)  # warning:<id>
    replay_access.register(registry)  # oversight:<user_id>: refused attempts and sealed reads
    return registry


@dataclass
class Runtime:
    settings: Settings
    database: Database
    registry: StreamRegistry = field(default_factory=build_registry)
    revocation: RevocationSource | None = None
    _signer: PlatformSigner | None = None
    _tsa: TimestampAuthority | None = None
    _notifier: NotificationProvider | None = None
    _blobs: BlobStore | None = None
    _platform_seal: PlatformSeal | None = None

    def __post_init__(self) -> None:
        committee_hook.install()  # a recusal's replacement takes its seat in the session
        trading_scopes.install()  # regulators' jurisdiction over the streams
        price_bidding_events.install_scope()  # competition:<id>
        evaluation_scopes.install()
        replay_sealed.install()  # which streams are sealed, so regulators' reads of them are recorded
        if self.revocation is None:
            transport = MirrorRevocationTransport(self.settings.resolved_revocation_mirror_dir, HttpRevocationTransport())
            self.revocation = RevocationSource(transport)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings=settings, database=Database(settings.resolved_database_url))

    @property
    def tsa(self) -> TimestampAuthority:
        """The platform timestamp authority, loaded when first needed."""
        if self._tsa is None:
            self._tsa = load_timestamp_authority(self.settings.resolved_tsa_key_file,
                                                 self.settings.resolved_tsa_cert_file)
        return self._tsa

    @property
    def signer(self) -> PlatformSigner:
        """The platform key, loaded (or made, on a first run) when first needed."""
        if self._signer is None:
            self._signer = Ed25519PlatformSigner.load_or_create(self.settings.resolved_platform_key_file)
        return self._signer

    @property
    def notification_provider(self) -> NotificationProvider:
        """The SMS and voice provider, built from the settings when first needed."""
        if self._notifier is None:
            self._notifier = provider_from_settings(self.settings.notify_provider, **self.settings.notify_settings)
        return self._notifier

    @property
    def platform_seal(self) -> PlatformSeal:
        """The platform e-seal that seals award notices, loaded when first needed."""
        if self._platform_seal is None:
            self._platform_seal = load_platform_seal(self.settings.resolved_platform_seal_key_file,
                                                     self.settings.resolved_platform_seal_cert_file)
        return self._platform_seal

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            self._blobs = BlobStore(self.settings.resolved_blob_dir)
        return self._blobs

    async def close(self) -> None:
        await self.database.dispose()
