from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "pairrate annotation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .storage import startup  # noqa: F401  (registers the storage system check)
