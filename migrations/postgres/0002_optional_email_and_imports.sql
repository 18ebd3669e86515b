-- Accounts without an email address exist in the systems Castellan replaces (Django allows
-- them, and SimpleJWT-style registration may omit the address). "No email" is stored as an
-- empty email with a NULL `email_key`, so real addresses stay unique and no placeholder
-- address is ever invented. `imported_password_hash` remembers the hash an import wrote, so a
-- later import can tell whether Castellan has changed the password since.
ALTER TABLE users ALTER COLUMN email_key DROP NOT NULL;
ALTER TABLE users ALTER COLUMN email SET DEFAULT '';
ALTER TABLE users ADD COLUMN imported_password_hash TEXT;
