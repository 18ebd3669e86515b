-- Sign-in with upstream identity providers.

-- Which upstream account (provider + subject) belongs to which local user.
CREATE TABLE federated_identities (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    email      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_used  INTEGER NOT NULL,
    UNIQUE (provider, subject)
);
CREATE INDEX federated_identities_user ON federated_identities(user_id);

-- A started upstream login: `state` (stored as a digest), the PKCE verifier and nonce, and
-- where to send the browser afterwards. Single use, short-lived.
CREATE TABLE federation_logins (
    state_hash   TEXT    PRIMARY KEY,
    provider     TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    verifier     TEXT    NOT NULL,
    redirect     TEXT    NOT NULL,
    link_user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);
