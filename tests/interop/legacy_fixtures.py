"""Real artefacts of the systems Castellan replaces, for tests/legacy_import.rs.

Every hash is written by the library that writes it in production (Django's own hashers,
argon2-cffi, passlib, bcrypt), and the user export by Django's own `dumpdata`, so the tests
prove compatibility with what those systems store rather than with a hand-written guess.

    legacy_fixtures.py django-export PASSWORD   Django `dumpdata auth.user` of users whose
                                                passwords were hashed by each Django hasher
    legacy_fixtures.py hashes PASSWORD          {"scheme": "hash", ...} from argon2-cffi,
                                                passlib and bcrypt
    legacy_fixtures.py token SECRET USER_ID LIFETIME [TOKEN_TYPE]
                                                an HS256 token shaped like SimpleJWT's
"""

import io
import json
import sys
import time
import uuid
import warnings

warnings.filterwarnings("ignore")

SECRET_KEY = "django-insecure-legacy-fixtures-0123456789abcdefghijklmnop"


def configure_django():
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY=SECRET_KEY,
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
            "django.contrib.auth.hashers.Argon2PasswordHasher",
            "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
            "django.contrib.auth.hashers.BCryptPasswordHasher",
        ],
    )
    django.setup()


def argon2i_hasher():
    """Django before 3.2 wrote argon2i; this is Django's own hasher with that type."""
    from django.contrib.auth.hashers import Argon2PasswordHasher

    class Argon2iPasswordHasher(Argon2PasswordHasher):
        def params(self):
            import argon2

            p = super().params()
            return argon2.Parameters(
                type=argon2.low_level.Type.I,
                version=p.version,
                salt_len=p.salt_len,
                hash_len=p.hash_len,
                time_cost=p.time_cost,
                memory_cost=p.memory_cost,
                parallelism=p.parallelism,
            )

    return Argon2iPasswordHasher


def django_export(password):
    configure_django()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Primary keys with gaps, as a real database has after deletions.
    users = [
        (7, "pbkdf2user", "pbkdf2@example.com", "pbkdf2_sha256", {}),
        (11, "sha1user", "sha1@example.com", "pbkdf2_sha1", {}),
        (12, "argonuser", "argon@example.com", "argon2", {"first_name": "Ar", "last_name": "Gon"}),
        (20, "argoniuser", "", "argon2i", {}),
        (31, "bcryptshauser", "bcryptsha@example.com", "bcrypt_sha256", {"is_superuser": True, "is_staff": True}),
        (42, "bcryptuser", "bcrypt@example.com", "bcrypt", {}),
        (43, "inactiveuser", "inactive@example.com", "pbkdf2_sha256", {"is_active": False}),
    ]
    for pk, username, email, hasher, extra in users:
        if hasher == "argon2i":
            hasher = argon2i_hasher()()
        User.objects.create(
            pk=pk, username=username, email=email, password=make_password(password, hasher=hasher), **extra
        )
    nopass = User(pk=50, username="nopassuser", email="nopass@example.com")
    nopass.set_unusable_password()
    nopass.save()
    out = io.StringIO()
    call_command("dumpdata", "auth.user", indent=2, stdout=out)
    return out.getvalue()


def hashes(password):
    import argon2
    import bcrypt
    from passlib.hash import argon2 as passlib_argon2

    out = {}
    for name, kind in [("argon2id", argon2.Type.ID), ("argon2i", argon2.Type.I), ("argon2d", argon2.Type.D)]:
        out["argon2-cffi " + name] = argon2.PasswordHasher(type=kind).hash(password)
    for kind in ["ID", "I", "D"]:
        out["passlib argon2 type " + kind] = passlib_argon2.using(type=kind).hash(password)
    # argon2 v1.0 (0x10): argon2-cffi writes `v=16`; passlib serialises it without `v=`.
    v10 = argon2.low_level.hash_secret(
        password.encode(), uuid.uuid4().bytes, time_cost=2, memory_cost=512, parallelism=2,
        hash_len=32, type=argon2.low_level.Type.I, version=0x10,
    ).decode()
    out["argon2-cffi argon2i v=16"] = v10
    passlib_v10 = passlib_argon2.from_string(v10).to_string()
    assert "$v=" not in passlib_v10 and passlib_argon2.verify(password, passlib_v10)
    out["passlib argon2 v1.0"] = passlib_v10
    for prefix in [b"2a", b"2b"]:
        out["bcrypt " + prefix.decode()] = bcrypt.hashpw(
            password.encode(), bcrypt.gensalt(rounds=10, prefix=prefix)
        ).decode()
    # `$2y$` is PHP's name for the same algorithm as `$2b$` (crypt_blowfish); the bcrypt
    # package reads it but does not write it, so PHP's form is the 2b hash renamed.
    y = out["bcrypt 2b"].replace("$2b$", "$2y$", 1)
    assert bcrypt.checkpw(password.encode(), y.encode())
    out["bcrypt 2y"] = y
    return out


def token(secret, user_id, lifetime, token_type="access"):
    import jwt

    now = int(time.time())
    claims = {
        "token_type": token_type,
        "exp": now + int(lifetime),
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": int(user_id),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "django-export":
        sys.stdout.write(django_export(args[0]))
    elif command == "hashes":
        print(json.dumps(hashes(args[0])))
    elif command == "token":
        print(token(*args))
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
