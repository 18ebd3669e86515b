-- Passkeys (WebAuthn): credentials, and ceremony state kept between a ceremony's two
-- requests so that any instance can finish what another started.
CREATE TABLE webauthn_credentials (
    id           TEXT    PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    passkey      TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials(user_id);

CREATE TABLE webauthn_ceremonies (
    id         TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL
);
