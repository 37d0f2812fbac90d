"""Health check of the ckan-jobs service: an RQ worker of this container is registered in Redis.

RQ keeps one hash per live worker (listed in `rq:workers`, refreshed by the worker's heartbeat,
gone when it dies) that records the worker's hostname: the container's.
"""
import os
import socket
import sys

import redis

client = redis.Redis.from_url(os.environ["CKAN_REDIS_URL"], socket_timeout=3, decode_responses=True)
here = socket.gethostname()
alive = any(client.hget(key, "hostname") == here for key in client.smembers("rq:workers"))
sys.exit(0 if alive else 1)
