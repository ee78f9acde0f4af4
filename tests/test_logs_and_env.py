"""LOG_FORMAT=json writes one JSON object per line (with the request's id); EMAIL_URL and the other variables
are read as the README says."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import email_from_url, env_memory, proxy_ssl_header
from config.log import logging_config

ROOT = Path(__file__).resolve().parent.parent


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    drop = ("DATABASE_URL", "DEBUG", "LOG_FORMAT", "LOG_LEVEL", "EMAIL_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    environ = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("EMAIL_")}
    environ.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


LOGS = (
    "import django, logging; django.setup()\n"
    "from django.test import Client\n"
    "logging.getLogger('segments.demo').info('rebuilt %s groups', 3)\n"
    "try:\n"
    "    1 / 0\n"
    "except ZeroDivisionError:\n"
    "    logging.getLogger('segments.demo').exception('it broke')\n"
    "from django_q.conf import logger as worker_logger\n"
    "worker_logger.info('worker started')\n"
    "r = Client().get('/readyz', HTTP_X_REQUEST_ID='req-7')\n"
    "print(r.status_code, r['X-Request-ID'])\n"
)


def test_json_log_lines_parse_and_carry_the_request_id():
    with socket.socket() as closed:  # an unreachable database: /readyz logs why it is not ready
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = run(LOGS, LOG_FORMAT="json", DATABASE_URL=f"postgresql://nobody@127.0.0.1:{port}/x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["503", "req-7"]
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # every line is a JSON object
    for line in lines:
        assert {"timestamp", "level", "logger", "message", "request_id"} <= line.keys(), line
        assert line["timestamp"].endswith("+00:00")
    by_message = {line["message"]: line for line in lines}
    info = by_message["rebuilt 3 groups"]
    assert (info["level"], info["logger"], info["request_id"]) == ("INFO", "segments.demo", None)
    assert "ZeroDivisionError: division by zero" in by_message["it broke"]["exc_info"]
    assert by_message["worker started"]["logger"] == "django-q"  # the worker's own logger too
    in_request = [line for line in lines if line["request_id"] == "req-7"]
    assert {line["logger"] for line in in_request} >= {"health.probes", "health.views", "django.request"}
    assert any(line["message"].startswith("not ready: database") for line in in_request)


def test_text_logs_are_the_default():
    result = run("import django, logging; django.setup(); logging.getLogger('x').warning('plain %s', 'text')")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("WARNING x plain text")
    with pytest.raises(ValueError, match="LOG_FORMAT='xml'"):
        logging_config(log_format="xml", level="INFO")


def test_a_request_id_is_made_when_none_or_a_bad_one_is_given(client):
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz")["X-Request-ID"]
    forged = client.get("/healthz", HTTP_X_REQUEST_ID='x" "level": "CRITICAL')["X-Request-ID"]
    assert forged != 'x" "level": "CRITICAL' and len(forged) == 32


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp+tls://mailer%40shop.cz:p%40ss%3Aword@smtp.example.com:587",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "smtp.example.com",
                "EMAIL_PORT": 587,
                "EMAIL_HOST_USER": "mailer@shop.cz",
                "EMAIL_HOST_PASSWORD": "p@ss:word",
                "EMAIL_USE_TLS": True,
                "EMAIL_USE_SSL": False,
            },
        ),
        (
            "smtps://u:p@mail.example.com?timeout=5",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "mail.example.com",
                "EMAIL_PORT": 465,
                "EMAIL_HOST_USER": "u",
                "EMAIL_HOST_PASSWORD": "p",
                "EMAIL_USE_TLS": False,
                "EMAIL_USE_SSL": True,
                "EMAIL_TIMEOUT": 5,
            },
        ),
        ("console:", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        (
            "file:///var/mail/segments",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": "/var/mail/segments",
            },
        ),
    ],
)
def test_email_url(url, expected):
    assert email_from_url(url) == expected


def test_an_unknown_email_scheme_is_refused():
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL: unknown scheme 'smtpx'"):
        email_from_url("smtpx://host")


@pytest.mark.parametrize("value", ["16MB", "512kB", "1 GB", "2048"])
def test_a_postgresql_memory_size_is_read_as_written(monkeypatch, value):
    monkeypatch.setenv("PREVIEW_WORK_MEM", value)
    assert env_memory("PREVIEW_WORK_MEM", "16MB") == value


@pytest.mark.parametrize("value", ["16mb", "lots", "16 MiB", "-1MB", ""])
def test_a_mistyped_memory_size_stops_the_start_with_its_name(monkeypatch, value):
    monkeypatch.setenv("PREVIEW_WORK_MEM", value)
    with pytest.raises(ImproperlyConfigured, match="PREVIEW_WORK_MEM=.*expected a PostgreSQL memory size"):
        env_memory("PREVIEW_WORK_MEM", "16MB")


def test_a_mistyped_work_mem_stops_the_app_before_it_serves():
    result = run("import django; django.setup()", REBUILD_WORK_MEM="64 megs")
    assert result.returncode != 0
    assert "REBUILD_WORK_MEM='64 megs': expected a PostgreSQL memory size such as 16MB or 1GB" in result.stderr


def test_email_settings_come_from_the_environment():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.DEFAULT_FROM_EMAIL, s.SERVER_EMAIL]))"
    )
    from_url = run(code, EMAIL_URL="smtp+tls://a:b@smtp.example.com:2525", DEFAULT_FROM_EMAIL="news@shop.cz")
    assert json.loads(from_url.stdout) == ["smtp.example.com", 2525, True, "news@shop.cz", "news@shop.cz"]
    separate = run(code, EMAIL_HOST="mx.shop.cz", EMAIL_PORT="587", EMAIL_USE_TLS="1", SERVER_EMAIL="ops@shop.cz")
    assert json.loads(separate.stdout) == ["mx.shop.cz", 587, True, "marketing@example.com", "ops@shop.cz"]


def test_the_databases_are_configured_from_the_environment():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "d, r = s.DATABASES['default'], s.DATABASES['replica']; "
        "print(json.dumps([sorted(s.DATABASES), d['OPTIONS']['connect_timeout'], r['HOST'], r['TEST']['MIRROR']]))"
    )
    result = run(
        code,
        DATABASE_URL="postgresql://app:pw@primary.internal:5432/segments",
        DATABASE_REPLICA_URL="postgresql://reader:pw@replica.internal:5432/segments",
        DATABASE_CONNECT_TIMEOUT="7",
    )
    assert result.returncode == 0, result.stderr
    # the primary gives up connecting after 7 s; tests never create a database on the replica (it mirrors default)
    assert json.loads(result.stdout) == [["default", "replica"], 7, "replica.internal", "default"]


def test_the_proxy_header_is_read_in_either_spelling():
    assert proxy_ssl_header("HTTP_X_FORWARDED_PROTO") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxy_ssl_header("X-Forwarded-Proto") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxy_ssl_header("HTTP_X_FORWARDED_SSL,on") == ("HTTP_X_FORWARDED_SSL", "on")
    assert proxy_ssl_header("") is None
