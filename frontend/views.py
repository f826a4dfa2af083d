"""The browser app's entry page (the full app lands with the frontend issue)."""
from django.shortcuts import render

from annotation.models import Dataset


def home(request):
    datasets = Dataset.objects.order_by("name")
    return render(request, "frontend/home.html", {"datasets": datasets})
