from django.apps import AppConfig


class LsBackendConfig(AppConfig):
    name = "lsbackend"
    verbose_name = "Label Studio ML backend (/ls-backend/)"
