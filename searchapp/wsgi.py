from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from embeddings.conf import WARM_UP
from searchapp.serving import served

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "searchapp.settings")

application = served(get_wsgi_application())

if WARM_UP.value():
    from embeddings.engine.registry import warm_up_in_background

    warm_up_in_background()
