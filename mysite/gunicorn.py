"""gunicorn's configuration: ``gunicorn --config python:mysite.gunicorn mysite.wsgi``.

The production web command (docker/docker-compose.yml, docker/k8s/web.yaml
and the smoke test run exactly that line). Settings from the environment:

- ``PORT`` (8000): listens on 0.0.0.0:PORT.
- ``WEB_CONCURRENCY``: worker processes (default 2 x cores + 1, at most 8).
- ``GUNICORN_TIMEOUT`` (60): a request running longer is killed; slow work
  belongs in a task.
- ``FORWARDED_ALLOW_IPS`` (127.0.0.1): proxies whose X-Forwarded-* headers
  gunicorn trusts; ``*`` inside a cluster behind its ingress.
"""

import os

from mysite.metrics import gunicorn_child_exit as child_exit  # noqa: F401  (a gunicorn hook)
from mysite.metrics import gunicorn_on_starting as on_starting  # noqa: F401  (a gunicorn hook)

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * (os.cpu_count() or 1) + 1, 8)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30  # SIGTERM: finish the requests in flight, then exit
keepalive = 5
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"  # stdout: the container's log
errorlog = "-"
