"""All configuration in one place, read from QUANZU_* environment variables (or a .env file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from quanzu.kit.crypto import generate_master_key
from quanzu.kit.runtime import SmsGatewayConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUANZU_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/quanzu.sqlite3"
    data_dir: Path = Path("var")
    # Base64 32-byte key for PII encryption; if empty, read (or create once) `pii_key_file`.
    pii_key: SecretStr = SecretStr("")
    pii_key_file: Path = Path("var/pii.key")
    secret_key: SecretStr = SecretStr("")  # signs sessions and CSRF tokens; derived from the PII key if empty
    base_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_batch_size: int = Field(default=500, ge=1)
    # At most this many warnings share one transaction (group commit): a bigger batch commits
    # less often, but its last warning waits for all the others before it.
    group_commit_max: int = Field(default=32, ge=1)
    group_commit_writers: int = Field(default=2, ge=1)  # batches written at once (PostgreSQL; SQLite: 1)
    # `quanzu serve --workers N` (N > 1) also starts one writer process that writes every serving
    # process's warnings through one group commit (kit/writer.py): bigger batches, fewer commits.
    shared_writer: bool = True
    writer_socket: Path | None = None  # where that writer listens (`quanzu serve` sets it for its children)
    embedded_worker: bool = True  # `quanzu serve` also runs the delivery worker (one-box installs)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_timeout_s: float = Field(default=5.0, gt=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    db_pool_size: int = Field(default=10, ge=1)
    policy_file: Path | None = None
    # Machine credentials are cached this long on the screening hot path (revocation delay).
    auth_cache_seconds: float = Field(default=10.0, ge=0)
    # The SMS gateway that carries helpers' one-time links (see dispatch.channels.HttpSmsGateway);
    # empty: help requests are recorded and their links shown once to the officer, no SMS is sent.
    sms_gateway_url: str = ""
    sms_gateway_secret: SecretStr = SecretStr("")  # signs each request like a webhook (HMAC-SHA256)
    sms_sender: str = "反诈中心"
    # Where `npm ci` put the browser libraries (htmx, ECharts); see web/package.json.
    web_assets_dir: Path = (
        Path(__file__).resolve().parents[2] / "web" / "node_modules"
    )  # SLA deadlines, escalation ladder, close rules; default shipped

    # Hostile input (docs/security.md). Body limits for every route; upload routes get more.
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    upload_paths: tuple[str, ...] = ("/api/v1/imports", "/ui/imports")
    # How many processes serve the same clients (`quanzu serve --workers N` sets it): each keeps
    # its own buckets and enforces its share of the rates below.
    server_processes: int = Field(default=1, ge=1)
    # Requests per second (sustained) and burst, per credential; a rate <= 0 turns the limit off.
    # Machine tokens are high: a bank's system screens every counter transaction of all its branches.
    rate_machine_per_s: float = 300.0
    rate_machine_burst: int = Field(default=600, ge=1)
    rate_personal_per_s: float = 20.0
    rate_personal_burst: int = Field(default=100, ge=1)
    rate_session_per_s: float = 20.0
    rate_session_burst: int = Field(default=200, ge=1)
    # Login attempts per login name (on top of the lockout after login_max_failures failures).
    rate_login_per_minute: float = 10.0
    rate_login_burst: int = Field(default=10, ge=1)
    # Strict-Transport-Security max-age, sent on https requests (or all, if base_url is https); 0: never.
    hsts_seconds: int = Field(default=31_536_000, ge=0)

    @field_validator("database_url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("QUANZU_DATABASE_URL must be an sqlite:// or postgresql:// URL")
        return value

    def sms_gateway(self) -> SmsGatewayConfig | None:
        if not self.sms_gateway_url:
            return None
        secret = self.sms_gateway_secret.get_secret_value() or None
        return SmsGatewayConfig(url=self.sms_gateway_url, secret=secret, sender=self.sms_sender)

    def resolved_pii_key(self) -> str:
        if self.pii_key.get_secret_value():
            return self.pii_key.get_secret_value()
        if self.pii_key_file.exists():
            return self.pii_key_file.read_text().strip()
        self.pii_key_file.parent.mkdir(parents=True, exist_ok=True)
        key = generate_master_key()
        # Written once with owner-only permissions; losing it makes the stored PII unreadable.
        self.pii_key_file.touch(mode=0o600)
        self.pii_key_file.write_text(key + "\n")
        return key
