"""An OpenID Connect relying party built only from authlib and requests, run against a
Castellan provider: discovery, the authorization code flow with PKCE through the hosted
login page, ID-token validation against the JWKS, refresh, client credentials,
introspection and revocation. Prints one JSON summary line; any failure raises.

usage: oidc_rp.py ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD
"""

import html
import json
import os
import re
import sys

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test provider is plain http

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt


def hidden(page, name):
    found = re.search(r'name="%s" value="([^"]*)"' % name, page)
    if not found:
        raise SystemExit("no %s input on the login page" % name)
    return html.unescape(found.group(1))


def main():
    issuer, client_id, secret, redirect_uri, username, password = sys.argv[1:7]
    conf = requests.get(issuer + "/.well-known/openid-configuration", timeout=30).json()
    assert conf["issuer"] == issuer, conf["issuer"]

    client = OAuth2Session(client_id, secret, scope="openid profile email",
                           redirect_uri=redirect_uri, code_challenge_method="S256")
    verifier = generate_token(64)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(
        conf["authorization_endpoint"], code_verifier=verifier, nonce=nonce)

    # The user's browser: the hosted login form.
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False, timeout=30)
    assert page.status_code == 200, page.status_code
    form = {"csrf": hidden(page.text, "csrf"), "q": hidden(page.text, "q"),
            "username": username, "password": password}
    action = conf["authorization_endpoint"].rsplit("/", 1)[0] + "/login"
    done = browser.post(action, data=form, allow_redirects=False, timeout=30)
    assert done.status_code in (302, 303), (done.status_code, done.text[:300])
    callback = done.headers["Location"]
    assert callback.startswith(redirect_uri), callback

    token = client.fetch_token(conf["token_endpoint"], authorization_response=callback,
                               code_verifier=verifier)
    jwks = JsonWebKey.import_key_set(requests.get(conf["jwks_uri"], timeout=30).json())
    claims = jwt.decode(token["id_token"], jwks, claims_options={
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "nonce": {"essential": True, "value": nonce},
    })
    claims.validate()

    info = client.get(conf["userinfo_endpoint"], timeout=30).json()
    assert info["sub"] == claims["sub"], (info, claims)

    refreshed = client.refresh_token(conf["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]

    machine = OAuth2Session(client_id, secret, scope="api:read")
    cc = machine.fetch_token(conf["token_endpoint"], grant_type="client_credentials")
    live = machine.introspect_token(conf["introspection_endpoint"], token=cc["access_token"]).json()
    machine.revoke_token(conf["revocation_endpoint"], token=cc["access_token"]).raise_for_status()
    after = machine.introspect_token(conf["introspection_endpoint"], token=cc["access_token"]).json()
    machine.revoke_token(conf["revocation_endpoint"], token=refreshed["refresh_token"],
                         token_type_hint="refresh_token").raise_for_status()
    refresh_after = machine.introspect_token(conf["introspection_endpoint"],
                                             token=refreshed["refresh_token"]).json()

    print(json.dumps({
        "state_ok": state is not None,
        "id_token_alg": jwt_header_alg(token["id_token"]),
        "sub": claims["sub"],
        "email": info.get("email"),
        "userinfo_sub": info["sub"],
        "refreshed": True,
        "cc_scope": cc.get("scope"),
        "introspected_active": live["active"],
        "introspected_client": live.get("client_id"),
        "revoked_active": after["active"],
        "refresh_revoked_active": refresh_after["active"],
    }))


def jwt_header_alg(token):
    import base64
    head = token.split(".")[0]
    head += "=" * (-len(head) % 4)
    return json.loads(base64.urlsafe_b64decode(head))["alg"]


if __name__ == "__main__":
    main()
