"""The browser app: one page that loads the TypeScript app (built by Vite into dist/),
plus the health check. Log-in and log-out are Django's own views (pairrate/urls.py)."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie  # the app reads the CSRF cookie for its unsafe API calls
def home(request):
    user = request.user
    config = {"username": user.get_username(), "isAdmin": user.is_staff}
    return render(request, "frontend/app.html", {"config": config})


def healthz(request):
    """Liveness for the load balancer and docker-compose: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
