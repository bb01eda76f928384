from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from searchapp.serving import served

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "searchapp.settings")

application = served(get_wsgi_application())
