-- OAuth 2.0 / OpenID Connect: registered clients, one-shot authorization codes, the grants
-- behind issued tokens, remembered consents and the browser sign-in sessions (SSO).
CREATE TABLE oauth_clients (
    client_id     TEXT    PRIMARY KEY,
    secret_hash   TEXT,
    redirect_uris TEXT    NOT NULL,
    grant_types   TEXT    NOT NULL,
    scopes        TEXT    NOT NULL,
    is_public     BOOLEAN NOT NULL DEFAULT FALSE,
    first_party   BOOLEAN NOT NULL DEFAULT FALSE,
    id_token_alg  TEXT    NOT NULL DEFAULT 'RS256',
    created_at    BIGINT  NOT NULL
);

CREATE TABLE oauth_codes (
    code_hash      TEXT    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    user_id        BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT ,
    session_id     TEXT
);

CREATE TABLE oauth_grants (
    session_id TEXT    PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    auth_time  BIGINT  NOT NULL
);

CREATE TABLE oauth_consents (
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE oauth_browser_sessions (
    id_hash    TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
