-- Wallets, ledger, holds, jobs, cache, server config, provider accounting.
CREATE TABLE wallets (
    guild_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    balance     INTEGER NOT NULL CHECK (balance >= 0),
    last_daily  TEXT,                         -- UTC date (YYYY-MM-DD) of the last daily claim
    created_at  REAL NOT NULL,
    PRIMARY KEY (guild_id, member_id)
);

CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      TEXT NOT NULL,
    member_id     TEXT NOT NULL,
    at            REAL NOT NULL,
    delta         INTEGER NOT NULL,
    kind          TEXT NOT NULL,               -- start, daily, grant, revoke, hold, refund, topup
    job_id        TEXT,
    actor_id      TEXT,
    reason        TEXT,
    balance_after INTEGER NOT NULL
);
CREATE INDEX ledger_wallet ON ledger (guild_id, member_id, id);

CREATE TABLE holds (
    job_id     TEXT PRIMARY KEY,
    guild_id   TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    state      TEXT NOT NULL,                  -- held, settled, refunded
    created_at REAL NOT NULL,
    closed_at  REAL
);

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    guild_id      TEXT NOT NULL,
    member_id     TEXT NOT NULL,
    channel_id    TEXT,
    tool          TEXT NOT NULL,
    params        TEXT NOT NULL,               -- normalised JSON
    input_hash    TEXT,
    cache_key     TEXT NOT NULL,
    cost          INTEGER NOT NULL,
    state         TEXT NOT NULL,               -- queued, running, succeeded, failed, canceled
    provider      TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    error_type    TEXT,
    error_message TEXT,
    note          TEXT,
    source        TEXT NOT NULL,
    owner         TEXT,                        -- process that runs it (host:pid:start)
    result_files  TEXT,                        -- JSON list of result-store keys
    result_data   TEXT,                        -- JSON
    created_at    REAL NOT NULL,
    started_at    REAL,
    finished_at   REAL
);
CREATE INDEX jobs_member ON jobs (guild_id, member_id, created_at);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE cache (
    key        TEXT PRIMARY KEY,
    tool       TEXT NOT NULL,
    provider   TEXT NOT NULL,
    files      TEXT NOT NULL,                  -- JSON list of result-store keys
    data       TEXT NOT NULL,
    note       TEXT,
    created_at REAL NOT NULL
);

CREATE TABLE guild_settings (
    guild_id   TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,                  -- JSON
    updated_by TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (guild_id, key)
);

CREATE TABLE config_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id  TEXT NOT NULL,
    key       TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT NOT NULL,
    actor_id  TEXT NOT NULL,
    at        REAL NOT NULL
);

CREATE TABLE provider_attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT NOT NULL,
    tool       TEXT NOT NULL,
    provider   TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    model      TEXT,
    request_id TEXT,
    outcome    TEXT NOT NULL,                  -- ok, transient, permanent, rejected, timeout
    error      TEXT,
    cost_usd   REAL NOT NULL DEFAULT 0,
    upstream_credits REAL NOT NULL DEFAULT 0,
    latency_ms INTEGER NOT NULL,
    at         REAL NOT NULL
);
CREATE INDEX provider_attempts_job ON provider_attempts (job_id);

CREATE TABLE provider_state (
    provider   TEXT PRIMARY KEY,
    circuit    TEXT NOT NULL,                  -- closed, open, half-open
    failures   INTEGER NOT NULL,
    opened_at  REAL,
    last_error TEXT,
    updated_at REAL NOT NULL
);
