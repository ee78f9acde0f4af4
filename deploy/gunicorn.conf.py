"""gunicorn settings for the web tier: `gunicorn -c deploy/gunicorn.conf.py config.wsgi`.

Every value can be set from the environment (gunicorn reads GUNICORN_CMD_ARGS too); the defaults suit one
machine behind a reverse proxy (nginx, a load balancer) that terminates TLS and sets X-Forwarded-Proto.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# Sync workers: each request is short (pages, previews under a statement timeout, streamed exports); the
# long work (rebuilds, imports, sends) runs in the django-q2 workers, never in a request.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))  # an export of a million rows streams within it
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (with jitter, so they are not replaced all at once): a bound on
# what a leak could grow to. Not lower: at 1,000 pixel requests a second on four workers, 5,000 replaced each
# worker every 20 s — a new worker's start (Django's import, its connections, its first templates) costs ~1.5 s
# of CPU, and bench.load saw 11 replacements in one run, the pixel alone at 742/s instead of 1,030–1,119/s.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
# The proxy's address: only its X-Forwarded-* headers are believed.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
preload_app = False  # each worker opens its own database connections after the fork
