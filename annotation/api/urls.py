from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from .datasets import DatasetViewSet, EmbeddingSpaceViewSet, ImportRunViewSet

router = DefaultRouter()
router.register("datasets", DatasetViewSet)
router.register("spaces", EmbeddingSpaceViewSet)
router.register("imports", ImportRunViewSet)

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include(router.urls)),
]
