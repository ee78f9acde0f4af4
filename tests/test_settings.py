"""Production settings refuse to start when unsafe or broken: no SECRET_KEY, or static files not collected."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "STATIC_ROOT")}
    environ.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300
    )


SETUP = "import django; django.setup(); print('started')"


@pytest.mark.parametrize("secret", [None, "", "dev-only-insecure-key-change-me-in-production"])
def test_debug_off_refuses_to_start_without_a_secret_key(secret):
    env = {"DEBUG": "0"} if secret is None else {"DEBUG": "0", "SECRET_KEY": secret}
    result = run(SETUP, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr
    assert "started" not in result.stdout


def test_debug_off_starts_with_a_secret_key_and_debug_on_without_one():
    assert run(SETUP, DEBUG="0", SECRET_KEY="a-real-secret-" + "x" * 40).stdout.strip() == "started"
    result = run("import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)")
    assert result.returncode == 0 and result.stdout.strip() == "dev-only-insecure-key-change-me-in-production"


def test_debug_off_refuses_to_serve_until_static_files_are_collected(tmp_path):
    env = {"DEBUG": "0", "SECRET_KEY": "a-real-secret-" + "x" * 40, "STATIC_ROOT": str(tmp_path / "static")}
    serve = (  # over HTTPS: with DEBUG off, plain HTTP is redirected (SECURE_SSL_REDIRECT)
        "import config.wsgi\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "print(c.get('/login/', secure=True).status_code, c.get('/no-such-page/', secure=True).status_code)"
    )
    refused = run(serve, **env)
    assert refused.returncode != 0
    assert "static files are not collected" in refused.stderr
    assert "run `python manage.py collectstatic --noinput`" in refused.stderr
    # collectstatic itself is never refused (it is what fixes it)...
    collect = (
        "from django.core.management import execute_from_command_line as m; "
        "m(['manage.py', 'collectstatic', '--noinput', '-v0'{}])"
    )
    project_static = ROOT / "staticfiles"
    if (project_static / "staticfiles.json").is_file():  # `make test` collected them already: reuse them
        assert run(collect.format(", '--dry-run'"), **env).returncode == 0
        env["STATIC_ROOT"] = str(project_static)
    else:
        collected = run(collect.format(""), **env)
        assert collected.returncode == 0, collected.stderr
    # ...and once the files are collected, the pages work, the 404 page included.
    served = run(serve, **env)
    assert served.returncode == 0, served.stderr
    assert served.stdout.split() == ["200", "404"]
