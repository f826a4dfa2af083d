import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pairrate.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (after the settings are configured)

from annotation.storage.startup import require_storage  # noqa: E402

require_storage()  # an unreachable object store stops the server here, with one clear line

if getattr(settings, "SECURE_SSL_REDIRECT", False):
    # With PAIRRATE_DEBUG=0 over plain HTTP every request gets a 301 to https: say so once.
    logging.getLogger("pairrate").info(
        "PAIRRATE_SSL_REDIRECT is on: plain-HTTP requests get a 301 to https (right behind a TLS proxy that sets "
        "X-Forwarded-Proto: https); to serve plain HTTP, e.g. on a private network, set PAIRRATE_SSL_REDIRECT=0 "
        "(docs/deploy.md, Settings)"
    )
