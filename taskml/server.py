"""The application ``manage.py serve`` runs in each server process (uvicorn imports it by name).

Django spools each request body to a temporary file before parsing it: in a server process that
goes to the data disk (room for the largest upload, never a RAM-backed /tmp). Setting
``tempfile.tempdir`` is process-wide, so it happens here and not in ``taskml.asgi``, which
tests and other tools import. The same goes for the GIL switch interval below.
"""

import sys
import tempfile

from django.conf import settings

from taskml.asgi import application

tempfile.tempdir = settings.FILE_UPLOAD_TEMP_DIR
# The event loop (every live viewer's sends) gets the GIL back from a thread busy with a request
# after this long rather than Python's 5 ms default; also process-wide, so here.
sys.setswitchinterval(settings.TASKML_WEB_SWITCH_INTERVAL)

__all__ = ["application"]
