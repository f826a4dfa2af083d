"""Every model has a Django admin; the project page shows its launch stage by stage."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db


def test_every_annotation_model_is_registered():
    missing = [m.__name__ for m in apps.get_app_config("annotation").get_models() if m not in admin.site._registry]
    assert not missing, f"no admin for {missing}"


def test_admin_pages_render_with_pipeline_progress(client):
    from annotation.models import Dataset, EmbeddingSpace, PipelineStage, Project

    user = User.objects.create_superuser("root", password="pw")
    client.force_login(user)
    space = EmbeddingSpace.objects.create(name="s", model_name="m", dim=4, target_modality="image")
    project = Project.objects.create(
        name="p", space=space, target_modality="image", sample_size=1, item_cap=1, state="launching"
    )
    project.caption_datasets.set([Dataset.objects.create(name="d")])
    PipelineStage.objects.create(project=project, name="curate", order=0, state="succeeded", progress=1.0)
    PipelineStage.objects.create(project=project, name="filter", order=1, state="running", progress=0.5)

    listing = client.get("/admin/annotation/project/").content.decode()
    assert '<progress value="75" max="100">' in listing
    page = client.get(f"/admin/annotation/project/{project.pk}/change/").content.decode()
    assert '<progress value="50" max="100">' in page and "curate" in page
    for model in apps.get_app_config("annotation").get_models():
        url = f"/admin/annotation/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
