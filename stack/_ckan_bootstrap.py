"""Runs inside CKAN's own virtualenv (not kcdata's): make the publisher a sysadmin with an API token.

Called by stack/ckan.py as `<ckan-venv>/bin/python -I _ckan_bootstrap.py <ckan.ini>`
(-I: this folder must not shadow `ckan`, `redis`, `secrets` on sys.path), with the
user name and password in the environment (never on a command line). Prints one JSON line,
{"token": ...}, on stdout for the caller to store in secrets.env.
"""
from __future__ import annotations

import json
import os
import sys


def main(ini: str) -> None:
    from ckan.cli import load_config
    from ckan.config.middleware import make_app

    app = make_app(load_config(ini))

    import ckan.logic as logic
    import ckan.model as model

    name = os.environ["BOOTSTRAP_PUBLISHER"]
    password = os.environ["BOOTSTRAP_PUBLISHER_PASSWORD"]
    token_name = os.environ.get("BOOTSTRAP_TOKEN_NAME", "kcdata")
    with app._wsgi_app.test_request_context():
        site_user = logic.get_action("get_site_user")({"ignore_auth": True}, {})
        context = {"ignore_auth": True, "user": site_user["name"]}
        user = model.User.by_name(name)
        if user is None:
            logic.get_action("user_create")(dict(context), {
                "name": name,
                "email": "kcdata-publisher@example.org",
                "password": password,
                "fullname": "Knowledge City data bureau publisher",
            })
            user = model.User.by_name(name)
        assert user is not None
        changed = False
        if not user.sysadmin:
            user.sysadmin = True
            changed = True
        if user.state != "active":
            user.state = "active"
            changed = True
        if not user.validate_password(password):
            user.password = password
            changed = True
        if changed:
            model.Session.add(user)
            model.repo.commit()
        token = logic.get_action("api_token_create")(dict(context), {"user": name, "name": token_name})
    sys.stdout.write(json.dumps({"token": token["token"]}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
