from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "pairrate annotation"
    default_auto_field = "django.db.models.BigAutoField"
