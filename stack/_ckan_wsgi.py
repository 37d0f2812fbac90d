"""Runs inside CKAN's own virtualenv (not kcdata's): the WSGI application gunicorn serves.

CKAN's documented entry point (its `wsgi.py`): load the ini named by `CKAN_INI`, configure logging
from it, and build the app with `ckan.config.middleware.make_app`. stack/ckan.py copies this file
beside ckan.ini in the state folder (as CKAN's deployment guide does) and points gunicorn's
`--pythonpath` at that copy: this folder itself must not be on CKAN's sys.path (our `redis.py`
and `secrets.py` would shadow the real modules). Each gunicorn worker imports it after the fork,
so no database connection is shared between workers.
"""
from __future__ import annotations

import os
from logging.config import fileConfig

from ckan.cli import CKANConfigLoader
from ckan.config.middleware import make_app

config_path = os.environ["CKAN_INI"]
if not os.path.exists(config_path):
    raise RuntimeError(f"CKAN config file not found: {config_path}")

fileConfig(config_path, disable_existing_loggers=False)
application = make_app(CKANConfigLoader(config_path).get_config())
