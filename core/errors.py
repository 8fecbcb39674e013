"""One exception tree for the whole product.

    StudioError
    ├── UserError                 the member can fix it; message is shown as-is
    │   ├── InvalidInput          a parameter or attachment is wrong (names the field)
    │   ├── InsufficientCredits   not enough credits for the hold
    │   ├── RateLimited           token bucket empty (retry_after seconds)
    │   ├── QueueFull             per-member concurrency/queue limit (retry_after seconds)
    │   ├── ToolDisabled          tool switched off for this server
    │   ├── NotAllowed            permission or channel refusal
    │   └── ContentRejected       prompt refused by a blocklist or a provider's policy
    ├── ProviderError             one provider attempt failed (adapters raise these)
    │   ├── TransientProviderError    worth retrying (timeouts, 408/409/429, 5xx)
    │   └── PermanentProviderError    not worth retrying; try the next provider
    ├── AllProvidersFailed        every provider in the chain gave up
    ├── InternalError             a bug in our own code (logged with a reference id)
    ├── Interrupted               work stopped: the job was canceled, timed out or shut down
    ├── ConfigError               bad config.toml key or value (stops startup)
    └── StorageError              database or result folder unusable (stops startup)

`ContentRejected` is a UserError *and* a provider outcome: when a provider
refuses a prompt, the engine neither retries nor falls back, and refunds.
User-facing text lives in `str(error)`; it never contains exception text from
third-party libraries.
"""

from __future__ import annotations


class StudioError(Exception):
    """Base of every error the product raises on purpose."""


class UserError(StudioError):
    """Something the member can fix; `str()` is safe to show to them."""


class InvalidInput(UserError):
    """A parameter or attachment is wrong; `field` names it (None: the request as a whole)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InsufficientCredits(UserError):
    """The member's balance is below the job's cost; `needed` and `balance` in credits."""

    def __init__(self, needed: int, balance: int) -> None:
        super().__init__(
            f"This costs {needed} credit{'s' if needed != 1 else ''} but your balance is "
            f"{balance}. Claim your daily credits or ask a moderator for a grant."
        )
        self.needed = needed
        self.balance = balance


class RateLimited(UserError):
    """Too many jobs this minute for the member or the server; `retry_after` in seconds."""

    def __init__(self, retry_after: float, scope: str = "member") -> None:
        who = "You are" if scope == "member" else "This server is"
        super().__init__(
            f"{who} running tools too fast; try again in {max(1, round(retry_after))} s."
        )
        self.retry_after = retry_after
        self.scope = scope


class QueueFull(UserError):
    """The member already has the most jobs running and queued allowed; `retry_after` in seconds."""

    def __init__(self, retry_after: float, running: int, queued: int) -> None:
        super().__init__(
            f"You already have {running} job(s) running and {queued} waiting; "
            f"try again in about {max(1, round(retry_after))} s."
        )
        self.retry_after = retry_after


class ToolDisabled(UserError):
    """The tool is switched off on this server (or in config.toml)."""

    def __init__(self, tool: str) -> None:
        super().__init__(f"The {tool} tool is disabled on this server.")
        self.tool = tool


class NotAllowed(UserError):
    """Permission or channel refusal. `channel_ids`: where the tool may be used, when
    the refusal is about the channel (front ends render them their own way)."""

    def __init__(self, message: str, *, channel_ids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.channel_ids = channel_ids


class ContentRejected(UserError):
    """A prompt refused by the blocklist or a provider's content policy."""

    def __init__(self, message: str, *, provider: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider


class ProviderError(StudioError):
    """One provider attempt failed. `reason` is a short, secret-free description."""

    def __init__(
        self,
        reason: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id


class TransientProviderError(ProviderError):
    """Worth retrying: timeouts, connection errors, 408/409/429, 5xx."""


class PermanentProviderError(ProviderError):
    """Not worth retrying with this provider; the engine falls back to the next."""


class AllProvidersFailed(StudioError):
    """Every provider in the chain failed or was skipped; `reasons` is `(provider, why)` in order."""

    def __init__(self, tool: str, reasons: list[tuple[str, str]]) -> None:
        detail = "; ".join(f"{p}: {r}" for p, r in reasons) or "no provider available"
        super().__init__(f"every provider failed for {tool} ({detail})")
        self.tool = tool
        self.reasons = reasons


class InternalError(StudioError):
    """A crash inside our own code. It is a bug, logged with the traceback under `ref`;
    it never counts against a provider's circuit breaker (the provider is not unhealthy)."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"internal error (ref {ref})")
        self.ref = ref


class Interrupted(StudioError):
    """Raised inside a provider's work when its job was canceled, ran past its deadline
    or the studio is shutting down: the work stops at the next checkpoint."""


class ConfigError(StudioError):
    """A bad configuration key or value; the message is one line naming it."""


class StorageError(StudioError):
    """The database or the result folder cannot be created, opened or upgraded; the
    message is one line naming the path and the problem (shown to the operator)."""


def is_transient_status(status: int) -> bool:
    """HTTP statuses worth retrying (PRODUCT.md §5)."""
    return status in (408, 409, 429) or 500 <= status <= 599
