from django.apps import AppConfig


class BackendConfig(AppConfig):
    name = "backend"
    verbose_name = "/backend/ endpoints of the pipeline this service replaces"
