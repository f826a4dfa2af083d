from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.defaults import page_not_found
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from annotation.api.errors import not_found
from annotation.api.logins import LoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", LoginView.as_view(), name="login"),  # Django's, with the failed-login limit
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("annotation.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # JSON 404 for any other /api/ path (ids that are not integers, typos); it also means no
    # APPEND_SLASH redirect under /api/: a 301 there would drop a POST's body.
    re_path(r"^api/", not_found),
    path("", include("frontend.urls")),
]

if settings.DEBUG:
    # The demo serves media itself; production serves MEDIA_ROOT from the web server.
    urlpatterns.insert(0, path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}))


def handler404(request, exception):
    """JSON under /api/ (an Http404 raised outside DRF's views); Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return not_found(request, exception)
    return page_not_found(request, exception)
