import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.startup import static_files_check  # noqa: E402  (needs the settings loaded above)

static_files_check()
