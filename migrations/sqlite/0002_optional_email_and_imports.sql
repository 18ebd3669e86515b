-- no-transaction
-- Accounts without an email address exist in the systems Castellan replaces (Django allows
-- them, and SimpleJWT-style registration may omit the address). "No email" is stored as an
-- empty email with a NULL `email_key`, so real addresses stay unique and no placeholder
-- address is ever invented. `imported_password_hash` remembers the hash an import wrote, so a
-- later import can tell whether Castellan has changed the password since.
--
-- SQLite cannot drop NOT NULL in place: the table is rebuilt. Foreign keys are off meanwhile
-- so that dropping the old table does not cascade into sessions and roles; the
-- AUTOINCREMENT high-water mark is carried over so deleted ids are never reused.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE users_new (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    username               TEXT    NOT NULL,
    username_key           TEXT    NOT NULL UNIQUE,
    email                  TEXT    NOT NULL DEFAULT '',
    email_key              TEXT    UNIQUE,
    password_hash          TEXT    NOT NULL,
    first_name             TEXT    NOT NULL DEFAULT '',
    last_name              TEXT    NOT NULL DEFAULT '',
    is_active              BOOLEAN NOT NULL DEFAULT TRUE,
    is_superuser           BOOLEAN NOT NULL DEFAULT FALSE,
    email_verified         BOOLEAN NOT NULL DEFAULT FALSE,
    mfa_enabled            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    imported_password_hash TEXT
);
INSERT INTO users_new (id, username, username_key, email, email_key, password_hash, first_name,
                       last_name, is_active, is_superuser, email_verified, mfa_enabled,
                       created_at, updated_at)
    SELECT id, username, username_key, email, email_key, password_hash, first_name,
           last_name, is_active, is_superuser, email_verified, mfa_enabled,
           created_at, updated_at
    FROM users;
DELETE FROM sqlite_sequence WHERE name = 'users_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'users_new', seq FROM sqlite_sequence WHERE name = 'users';
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
COMMIT;
PRAGMA foreign_keys = ON;
