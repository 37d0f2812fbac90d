"""`python -m stack.launch SERVICE [DIGEST]`: how supervisord starts a service that needs secrets.

supervisord's configuration must hold no secret, so it runs this instead of the service: we read
the secrets file and the system's settings, build the service's environment, and `exec` the real
command (same pid, so supervisord signals and watches the service itself). The DIGEST argument is
ignored; it is in the command line so that supervisord restarts the service when settings change.
"""
from __future__ import annotations

import os
import sys

from common.settings import settings_or_exit
from stack import airflow, seaweedfs, web
from stack.layout import get_layout


def main(argv: list[str]) -> None:
    services = (*airflow.SERVICES, "airflow-celery-worker-<n>", "airflow-celery-flower", web.NAME)
    if len(argv) < 2 or not (airflow.is_service(argv[1]) or argv[1] == web.NAME):
        sys.exit(f"usage: python -m stack.launch {{{','.join(services)}}}")
    settings_or_exit(f"python -m stack.launch {argv[1]}")
    layout = get_layout()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCDATA_", "AIRFLOW"))}
    if argv[1] == web.NAME:
        env.update(web.environment(layout))
        cmd = web.command()
    else:
        env.update(airflow.environment(layout, argv[1]))
        cmd = airflow.command(argv[1])
    env["KCDATA_SYSTEM_HOME"] = str(layout.home)
    env.update(seaweedfs.lake_environment(layout, env))  # a lake on the system's own S3 store
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main(sys.argv)
