"""Settings: `config.toml` + secrets from the environment -> frozen, validated objects.

Lookup order for the file: `--config PATH`, else `./config.toml`, else
`$LUNEO_CONFIG`, else built-in defaults (data then lives in the per-user data
folder, `user_data_dir`, never in the current folder). A bad key or value raises ConfigError
with one line naming it. Secrets (`DISCORD_TOKEN`, `OPENAI_API_KEY`,
`REPLICATE_API_TOKEN`, `REMOVEBG_API_KEY`, the `AWS_*` keys of an S3 result store)
come only from the environment.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from core.credits import MAX_CREDITS
from core.errors import ConfigError
from core.storage.db import is_postgres_url
from core.tools.base import TOOLS


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StorageSettings(_Section):
    """`[storage]`: where the database and result files live (relative to the config file)."""

    # An SQLite file (the default) or a `postgresql://user@host/db` URL (core/storage/db.py);
    # `pool_size`: Postgres connections per process.
    database: Path | str = Path("data/studio.db")
    pool_size: int = Field(default=10, ge=1, le=200)
    results_dir: Path = Path("data/results")

    @field_validator("database", mode="before")
    @classmethod
    def _database(cls, value: Any) -> Any:
        """A `postgresql://` URL stays text (a Path would fold its `//`); else a path."""
        return value if is_postgres_url(value) or isinstance(value, Path) else Path(value)
    # Results and inputs in S3-compatible storage instead of `results_dir`
    # (core/storage/blobs.py); credentials only from AWS_* environment variables.
    results_url: str | None = None  # "s3://bucket/prefix"
    results_endpoint: str | None = None  # e.g. http://127.0.0.1:9000; default $AWS_ENDPOINT_URL or AWS
    results_region: str | None = None  # default $AWS_REGION / $AWS_DEFAULT_REGION, else us-east-1

    @model_validator(mode="after")
    def _check_results_url(self) -> StorageSettings:
        url = self.results_url
        if url is not None and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?", url):
            raise ValueError(f"results_url {url!r}: expected s3://bucket/prefix")
        return self


class DiscordSettings(_Section):
    """`[discord]`: the API and gateway the bot talks to, command sync, progress edits (s)."""

    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    dev_guild_id: int | None = None
    sync_commands: bool = True
    progress_interval_s: float = Field(default=2.0, ge=2.0)


class ModelsSettings(_Section):
    """`[models]`: the local model cache, the upscale quality, inference threads and precision."""

    dir: Path | None = None  # default: $LUNEO_MODELS_DIR or ~/.cache/luneo-studio/models
    upscale_quality: Literal["fast", "best"] = "fast"
    threads: int = Field(default=2, ge=1, le=64)
    precision: Literal["auto", "f32"] = "auto"  # ISNet: bfloat16 where the CPU has it, or f32

    def cache_dir(self) -> Path:
        """The model cache: `dir`, else $LUNEO_MODELS_DIR, else ~/.cache/luneo-studio/models."""
        if self.dir is not None:
            return self.dir.expanduser()
        env = os.environ.get("LUNEO_MODELS_DIR")
        if env:
            return Path(env).expanduser()
        return Path("~/.cache/luneo-studio/models").expanduser()


class CreditsSettings(_Section):
    """`[credits]`: a new wallet's balance, the daily allowance, cache-hit cost, CLI top-up."""

    starting: int = Field(default=10, ge=0, le=MAX_CREDITS)
    daily: int = Field(default=5, ge=0, le=MAX_CREDITS)
    cache_hit_cost: int = Field(default=0, ge=0, le=MAX_CREDITS)
    operator_topup: int = Field(default=1000, ge=0, le=MAX_CREDITS)  # CLI refill (0 = never)


class LimitsSettings(_Section):
    """`[limits]`: rate limits (per minute), queue sizes, running slots, time and memory caps."""

    per_member_per_minute: int = Field(default=10, ge=1)
    per_server_per_minute: int = Field(default=120, ge=1)
    per_member_running: int = Field(default=2, ge=1)
    per_member_queued: int = Field(default=5, ge=0)
    max_running: int = Field(default=4, ge=1)  # jobs running at once, all members, per lane
    local_threads: int = Field(default=2, ge=1)  # CPU-heavy local jobs at once
    # "process": local work runs in worker processes that cancel, deadline and shutdown
    # kill at once; "thread": in this process (cooperative stops between tiles/stages)
    local_isolation: Literal["process", "thread"] = "process"
    # quick jobs (estimated at most light_seconds: crops, palettes, designs) run in their
    # own lane of light_workers processes and slots, never waiting behind heavy ones
    light_workers: int = Field(default=1, ge=1)
    light_seconds: float = Field(default=3.0, ge=0)
    # -- local work budgets (core/budget.py; measured in benchmarks/results/budget.md) --
    max_job_memory_mb: int = Field(default=3072, ge=256)  # one local job's estimated peak
    memory_budget_mb: int = Field(default=6144, ge=256)  # all heavy local jobs, all processes
    cpu_factor: float = Field(default=1.0, gt=0)  # this machine's time per work vs. reference
    remove_bg_work_mp: float = Field(default=4.0, ge=0.25)  # mask computed at most at this size
    upscale_max_output_mp: float = Field(default=40.0, ge=0.01)  # upscale result size cap
    max_output_side: int = Field(default=16383, ge=64)  # longest side an upscale may produce
    upscale_s_per_out_mp: float = Field(default=4.0, ge=0)  # `fast` upscale time budget, s per output MP


class JobsSettings(_Section):
    """`[jobs]`: a job's deadline (s) and what a restart does with unfinished jobs."""

    deadline_s: float = Field(default=600.0, gt=0)
    recover: Literal["resume", "refund"] = "resume"


class RetrySettings(_Section):
    """`[retry]`: attempts per provider and the backoff delays (s)."""

    max_attempts: int = Field(default=3, ge=1, le=10)
    base_delay_s: float = Field(default=0.5, ge=0)
    max_delay_s: float = Field(default=8.0, ge=0)
    retry_after_cap_s: float = Field(default=30.0, ge=0)


class BreakerSettings(_Section):
    """`[breaker]`: failures in a row that open a circuit, and its cooldown (s)."""

    failure_threshold: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=60.0, ge=0)


class OpenAISettings(_Section):
    """`[providers.openai]`: endpoint, image model, moderation, quality, timeout (s)."""

    base_url: str | None = None
    model: str = "gpt-image-1.5"
    moderation: bool = True
    quality: Literal["low", "medium", "high", "auto"] = "medium"
    timeout_s: float = Field(default=120.0, gt=0)


class ReplicateSettings(_Section):
    """`[providers.replicate]`: endpoint, the model per tool, timeouts (s)."""

    base_url: str = "https://api.replicate.com"
    design_model: str = "black-forest-labs/flux-schnell"
    remove_bg_model: str = (
        "851-labs/background-remover:a029dff38972b5fda4ec5d75d7d1cd25aeff621d2cf4946a41055d7db66b80bc"
    )
    upscale_model: str = (
        "nightmareai/real-esrgan:f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa"
    )
    poll_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=180.0, gt=0)


class RemoveBgSettings(_Section):
    """`[providers.removebg]`: endpoint, output size, timeout (s)."""

    base_url: str = "https://api.remove.bg"
    size: Literal["preview", "full", "auto"] = "auto"
    timeout_s: float = Field(default=60.0, gt=0)


class ProvidersSettings(_Section):
    """`[providers.*]`: one section per remote provider."""

    openai: OpenAISettings = OpenAISettings()
    replicate: ReplicateSettings = ReplicateSettings()
    removebg: RemoveBgSettings = RemoveBgSettings()


class ToolSettings(_Section):
    """`[tools.<id>]`: whether the tool is on, its cost (-1: default) and its provider chain."""

    enabled: bool = True
    cost: int = Field(default=-1, ge=-1, le=MAX_CREDITS)  # -1: the tool's default cost
    providers: tuple[str, ...] = ()  # empty: the tool's default chain


class SecuritySettings(_Section):
    """`[security]`: allowed attachment hosts, input size (bytes) and pixel caps, prompt blocklist."""

    attachment_hosts: tuple[str, ...] = ("cdn.discordapp.com", "media.discordapp.net")
    max_input_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(default=40_000_000, ge=1024)
    prompt_blocklist: tuple[str, ...] = ()


class LoggingSettings(_Section):
    """`[logging]`: level, and JSON lines or plain text."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = True


class QueueSettings(_Section):
    """`[queue]`: where accepted jobs run. "inprocess" (default): in this process;
    "procrastinate": `studio worker` processes on a Postgres queue (docs/scaling.md)."""

    backend: Literal["inprocess", "procrastinate"] = "inprocess"
    name: str = Field(default="luneo", pattern=r"^[a-z][a-z0-9_-]{0,62}$")  # the queue's name
    concurrency: int = Field(default=1, ge=1, le=64)  # jobs one worker runs at once
    max_attempts: int = Field(default=5, ge=1, le=50)  # deliveries after infrastructure errors
    retry_backoff_s: int = Field(default=2, ge=1, le=60)  # exponential backoff base (s)
    stalled_after_s: float = Field(default=30.0, ge=2.0)  # a worker silent this long is dead
    heartbeat_s: float = Field(default=10.0, gt=0)  # how often a worker says it is alive
    reconcile_interval_s: float = Field(default=10.0, gt=0)  # reconciler period (s)
    poll_s: float = Field(default=5.0, gt=0)  # gateway re-reads its waiting jobs (lost NOTIFY)
    shutdown_grace_s: float = Field(default=30.0, ge=0)  # SIGTERM: running jobs get this long


class MetricsSettings(_Section):
    """`[metrics]`: the Prometheus port on 127.0.0.1 (0: off)."""

    prometheus_port: int = Field(default=0, ge=0, le=65535)  # 0: off


# Every secret: its environment variable -> its `Secrets` field. Secrets are read
# from here only (never config.toml); logging scrubs every one of them from every
# line; the provider registry names the variable a remote provider needs.
SECRET_ENV_VARS: dict[str, str] = {
    "DISCORD_TOKEN": "discord_token",
    "OPENAI_API_KEY": "openai_api_key",
    "REPLICATE_API_TOKEN": "replicate_api_token",
    "REMOVEBG_API_KEY": "removebg_api_key",
    "PGPASSWORD": "pg_password",  # libpq reads it for [storage] database = "postgresql://..."
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",  # [storage] results_url (S3)
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
}


class Secrets(BaseModel):
    """API keys and the bot token, read from the environment only (SECRET_ENV_VARS)."""

    model_config = ConfigDict(frozen=True)

    discord_token: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    replicate_api_token: SecretStr | None = None
    removebg_api_key: SecretStr | None = None
    pg_password: SecretStr | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Secrets:
        """The secrets set (non-blank) in `env` (default os.environ), by SECRET_ENV_VARS."""
        env = dict(os.environ) if env is None else env
        found = {field: env.get(name, "").strip() for name, field in SECRET_ENV_VARS.items()}
        return cls(**{field: SecretStr(v) for field, v in found.items() if v})

    def by_env(self, name: str) -> SecretStr | None:
        """The secret read from environment variable `name` (one of SECRET_ENV_VARS)."""
        value: SecretStr | None = getattr(self, SECRET_ENV_VARS[name])
        return value

    def revealed(self) -> list[str]:
        """Every secret that is set, in plain text: what logging must never print."""
        return [v.get_secret_value() for name in SECRET_ENV_VARS
                if (v := self.by_env(name)) is not None]


_PROVIDER_NAMES = {"openai", "replicate", "removebg", "local"}


class Settings(_Section):
    """Every setting, validated and frozen. Relative paths resolve against `base_dir`:
    the config file's folder, or the per-user data folder when there is no file."""

    storage: StorageSettings = StorageSettings()
    discord: DiscordSettings = DiscordSettings()
    models: ModelsSettings = ModelsSettings()
    credits: CreditsSettings = CreditsSettings()
    limits: LimitsSettings = LimitsSettings()
    jobs: JobsSettings = JobsSettings()
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    providers: ProvidersSettings = ProvidersSettings()
    tools: dict[str, ToolSettings] = Field(default_factory=dict)
    security: SecuritySettings = SecuritySettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    queue: QueueSettings = QueueSettings()
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _check_tools(self) -> Settings:
        for tool, ts in self.tools.items():
            if tool not in TOOLS:
                raise ValueError(f"tools.{tool}: unknown tool (known: {', '.join(TOOLS)})")
            for p in ts.providers:
                if p not in _PROVIDER_NAMES:
                    raise ValueError(f"tools.{tool}.providers: unknown provider {p!r}")
        if self.queue.backend != "inprocess" and not str(self.storage.database).startswith(
                ("postgresql:", "postgres:")):
            raise ValueError(f"queue.backend: {self.queue.backend!r} needs a Postgres database "
                             "([storage] database = \"postgresql://...\")")
        return self

    def tool(self, tool: str) -> ToolSettings:
        """The `[tools.<tool>]` section, or the defaults when it is absent."""
        return self.tools.get(tool, ToolSettings())

    def tool_cost(self, tool: str) -> int:
        """The tool's configured cost in credits, or its default when unset (-1)."""
        c = self.tool(tool).cost
        return TOOLS[tool].default_cost if c < 0 else c

    def tool_chain(self, tool: str) -> tuple[str, ...]:
        """The provider names to try, in order: the configured chain or the tool's default."""
        return self.tool(tool).providers or TOOLS[tool].default_providers

    def path(self, p: Path) -> Path:
        """Resolve a configured path relative to the config file's folder."""
        p = p.expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def database_target(self) -> Path | str:
        """What `Database.open` takes: the `postgresql://` URL, or the SQLite file
        resolved against the config folder."""
        db = self.storage.database
        return db if isinstance(db, str) else self.path(db)

    @property
    def database_path(self) -> Path:
        """The SQLite database file, resolved against the config folder (with a Postgres
        URL: `data/postgres` under that folder, naming no file, so helpers that keep
        files beside the database still find a folder)."""
        db = self.storage.database
        return self.path(Path("data/postgres") if isinstance(db, str) else db)

    @property
    def results_path(self) -> Path:
        """The result store's folder, resolved against the config folder."""
        return self.path(self.storage.results_dir)


def _first_error_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"config: unknown key `{loc}`"
    msg = err["msg"].removeprefix("Value error, ")
    return f"config: `{loc}`: {msg}" if loc else f"config: {msg}"


def user_data_dir() -> Path:
    """Where a Studio with no config file keeps its data: the platform's per-user data
    folder (platformdirs: `$XDG_DATA_HOME/luneo-studio`, else
    `~/.local/share/luneo-studio` on Linux), so every folder shares one wallet,
    history and result cache. `[storage]` paths in a config file are relative to
    that file's folder instead."""
    from platformdirs import user_data_path

    return user_data_path("luneo-studio", appauthor=False)


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The config file to load: `explicit`, else ./config.toml if present, else
    $LUNEO_CONFIG, else None (defaults only). Raises ConfigError when the file named by
    `explicit` or $LUNEO_CONFIG does not exist.
    """
    if explicit:
        p = Path(explicit)
        if p.is_dir():
            raise ConfigError(f"config: {p} is a folder; give the path of a config.toml file")
        if not p.exists():  # /dev/null or a pipe is fine: read as an empty config
            raise ConfigError(f"config: file not found: {p}")
        return p
    if Path("config.toml").is_file():
        return Path("config.toml")
    env = os.environ.get("LUNEO_CONFIG")
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"config: LUNEO_CONFIG points to a missing file: {p}")
        return p
    return None


# Keys from earlier releases: ignored with a warning that names the replacement.
RENAMED_KEYS = (("limits", "upscale_detail_s", "upscale_s_per_out_mp"),)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    """Load and validate settings. Raises ConfigError (one line) on any bad key."""
    cfg_path = resolve_config_path(path)
    raw: dict[str, Any] = {}
    if cfg_path is not None:
        try:
            raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config: {cfg_path} is not valid TOML: {exc}") from None
    for reserved in ("secrets", "base_dir"):
        if reserved in raw:
            raise ConfigError(
                f"config: unknown key `{reserved}` (secrets come only from the environment)"
            )
    for key, value in (overrides or {}).items():
        _deep_set(raw, key.split("."), value)
    for section, old, new in RENAMED_KEYS:
        if old in raw.get(section, {}):
            raw[section].pop(old)
            logging.getLogger(__name__).warning(
                "config: `%s.%s` is no longer used; set `%s.%s` instead", section, old, section, new)
    # a config that is not a regular file (/dev/null, a pipe) has no folder to keep data in
    raw["base_dir"] = cfg_path.parent.resolve() if cfg_path and cfg_path.is_file() else user_data_dir()
    raw["secrets"] = Secrets.from_env(env)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_first_error_line(exc)) from None


def _deep_set(d: dict[str, Any], keys: list[str], value: Any) -> None:
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value
