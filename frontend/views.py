"""The browser app's entry page (the full app lands with the frontend issue)."""
from django.shortcuts import render

from annotation.models import Dataset


def home(request):
    datasets = Dataset.objects.order_by("name")
    return render(request, "frontend/home.html", {"datasets": datasets})


def healthz(request):
    """Liveness for the load balancer and docker-compose: the database answers."""
    from django.db import connection
    from django.http import JsonResponse

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
