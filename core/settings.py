"""Settings, read from the environment (prefix ``BIDHALL_``) when a process starts.

Nothing reads settings at import time: the app factory, the worker and the command line
call :func:`load_settings` once and pass the result down. That keeps tests free to point
each app at its own database and data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a bidhall process can be told from outside."""

    model_config = SettingsConfigDict(env_prefix="BIDHALL_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Where the embedded default keeps its database, blobs, broker and keys.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; unset means SQLite at DATA_DIR/bidhall.db.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (redis://, amqp://); unset means a file broker under DATA_DIR.",
    )
    platform_key_file: Path | None = Field(
        default=None,
        description="PEM Ed25519 private key signing ledger tree heads; unset means DATA_DIR/keys.",
    )
    task_queue: str = Field(
        default="celery",
        pattern=r"^[A-Za-z0-9_.-]{1,100}$",
        description="Celery queue the web sends to and workers consume; lets environments share a broker.",
    )
    blob_dir: Path | None = None
    pki_dir: Path | None = Field(
        default=None,
        description="Demo PKI made by `bidhall pki demo` (default DATA_DIR/pki); its crl/ tree is a CRL mirror.",
    )
    revocation_mirror_dir: Path | None = Field(
        default=None, description="Local CRL mirror laid out as <host>/<path> (default PKI_DIR/crl)."
    )
    tsa_key_file: Path | None = Field(default=None, description="Platform TSA key (default PKI_DIR/tsa/tsa.key).")
    tsa_cert_file: Path | None = Field(
        default=None, description="Platform TSA certificate then its chain, PEM (default PKI_DIR/tsa/tsa-chain.pem)."
    )

    demo_pool_size: int = Field(default=3000, ge=0, le=1_000_000,
                                description="How many generated experts `bidhall seed` puts in an empty pool.")
    notify_provider: str = Field(default="simulator", pattern=r"^(simulator|aliyun|tencent)$",
                                 description="Who calls and texts drawn experts.")
    notify_settings: dict[str, Any] = Field(
        default_factory=dict, description="The provider's settings as JSON (keys, sign names, callback token).")
    answer_window_seconds: int = Field(default=600, ge=10, le=86_400,
                                       description="No answer within this time counts as a decline.")
    max_bid_bytes: int = Field(default=4 * 1024**3, ge=1024,
                               description="Largest sealed bid envelope accepted, in bytes.")
    max_document_bytes: int = Field(default=512 * 1024**2, ge=1024,
                                    description="Largest tender document accepted, in bytes.")
    upload_dir: Path | None = Field(default=None, description="Spool of unfinished resumable uploads (default DATA_DIR/uploads).")
    platform_seal_key_file: Path | None = Field(
        default=None, description="Platform e-seal signing key, PEM (default PKI_DIR/platform-seal/seal.key).")
    platform_seal_cert_file: Path | None = Field(
        default=None, description="Platform e-seal certificate then its chain, PEM (default PKI_DIR/platform-seal/seal-chain.pem).")
    reporting_endpoint: str | None = Field(
        default=None, description="Base URL of the national platform's batch intake; none: batches wait, built.")
    reporting_token: str | None = Field(default=None, description="Bearer token for the reporting endpoint.")
    warning_parameters_file: Path | None = Field(
        default=None, description="JSON overriding the warning rules' parameters ({rule: {parameter: value}}).")
    host: str = "127.0.0.1"
    port: int = 8000
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    session_token_hours: int = Field(default=12, ge=1, le=24 * 30)
    run_embedded_worker: bool = True
    log_level: str = "INFO"

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Resolved once, against the directory the command runs in.
        return value.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'bidhall.db'}"

    @property
    def is_embedded_broker(self) -> bool:
        return not self.broker_url

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def resolved_blob_dir(self) -> Path:
        return (self.blob_dir or self.data_dir / "blobs").expanduser().resolve()

    @property
    def resolved_pki_dir(self) -> Path:
        return (self.pki_dir or self.data_dir / "pki").expanduser().resolve()

    @property
    def resolved_revocation_mirror_dir(self) -> Path:
        return (self.revocation_mirror_dir or self.resolved_pki_dir / "crl").expanduser().resolve()

    @property
    def resolved_tsa_key_file(self) -> Path:
        return self.tsa_key_file or self.resolved_pki_dir / "tsa" / "tsa.key"

    @property
    def resolved_tsa_cert_file(self) -> Path:
        return self.tsa_cert_file or self.resolved_pki_dir / "tsa" / "tsa-chain.pem"

    @property
    def resolved_upload_dir(self) -> Path:
        return (self.upload_dir or self.data_dir / "uploads").expanduser().resolve()

    @property
    def resolved_platform_seal_key_file(self) -> Path:
        return self.platform_seal_key_file or self.resolved_pki_dir / "platform-seal" / "seal.key"

    @property
    def resolved_platform_seal_cert_file(self) -> Path:
        return self.platform_seal_cert_file or self.resolved_pki_dir / "platform-seal" / "seal-chain.pem"

    @property
    def resolved_platform_key_file(self) -> Path:
        return self.platform_key_file or self.data_dir / "keys" / "platform-ed25519.pem"


def load_settings(**overrides: object) -> Settings:
    """Read the environment now; keyword overrides win (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
