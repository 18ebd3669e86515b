-- Accounts that products need: mail outbox, single-use tokens, TOTP, recovery codes,
-- API keys, and a role for read-only auditors.

-- Mail jobs. A row is written in the request's transaction and deleted once delivered, so
-- a mail acknowledged to a user survives a restart. `message` is filled in when the mail is
-- rendered (its token issued) and kept, so retries resend the same mail.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    user_id         INTEGER,
    address         TEXT,
    message         TEXT,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER
);
CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at);

-- Email verification, password reset and MFA login tokens: SHA-256 digests, single use.
CREATE TABLE one_time_tokens (
    hash       TEXT    PRIMARY KEY,
    purpose    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    used_at    INTEGER
);
CREATE INDEX one_time_tokens_user ON one_time_tokens(user_id, purpose);

CREATE TABLE totp_secrets (
    user_id      INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret       TEXT    NOT NULL,
    confirmed_at INTEGER,
    -- The last time step accepted: a code is good once, on every instance.
    last_step    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    hash    TEXT    PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    used_at INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    scopes       TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_user ON api_keys(user_id);

ALTER TABLE users ADD COLUMN verification_sent_at INTEGER;

CREATE INDEX audit_log_user ON audit_log(user_id, at);

INSERT INTO roles (name, description, created_at) VALUES
    ('auditor', 'Reads users, roles and the audit trail', 0);
INSERT INTO role_permissions (role, permission) VALUES
    ('auditor', 'users:read'), ('auditor', 'roles:read'), ('auditor', 'audit:read');
