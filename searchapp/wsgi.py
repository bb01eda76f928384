from __future__ import annotations

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from searchapp.serving import served

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "searchapp.settings")

application = served(get_wsgi_application())

if settings.EMBEDDINGS_WARM_UP:
    from embeddings.engine.registry import warm_up_in_background

    warm_up_in_background()
