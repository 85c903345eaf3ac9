"""Uploads stream to a temporary file on disk and stop at TASKML_MAX_UPLOAD_MB.

Django's own handlers keep small files in memory; here every file goes to disk under
``uploads/.incoming`` (the same filesystem as the final location, so storing an upload is a
rename, not a copy). A request over the limit is cut off and marked, so the view can answer
413 naming the field instead of a vague "no file".
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Also hashes each file as it streams in (``upload.sha256``), saving a second read."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0
        Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.digest = hashlib.sha256()

    def file_complete(self, file_size):
        upload = super().file_complete(file_size)
        if upload is not None:
            upload.sha256 = self.digest.hexdigest()
        return upload

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        self.digest.update(raw_data)
        if self.received > settings.TASKML_MAX_UPLOAD_BYTES:
            if self.request is not None:
                self.request.upload_too_large = self.field_name
            if self.file is not None:
                self.file.close()  # a temporary file deletes itself on close
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)


def upload_limit_mb() -> str:
    """The limit in MB as people read it (``4096``, or ``0.1`` for a small test limit)."""
    return f"{settings.TASKML_MAX_UPLOAD_BYTES / (1024 * 1024):g}"
