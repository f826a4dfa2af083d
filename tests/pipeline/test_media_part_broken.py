"""A media part with files that do not decode counts them instead of failing the launch
(projects may include media that failed screening: Project.include_failed_media)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")


def test_undecodable_audio_is_counted_and_the_rest_get_waveforms(media_root, monkeypatch):
    from annotation.models import Dataset, Item, Project
    from annotation.pipeline import derived_media, stages

    dataset = Dataset.objects.create(name="sounds")
    (media_root / "media").mkdir()
    shutil.copy(SOUNDS / "bell.oga", media_root / "media" / "bell.oga")
    (media_root / "media" / "broken.oga").write_bytes((SOUNDS / "bell.oga").read_bytes()[:200])
    good = Item.objects.create(dataset=dataset, modality="audio", external_id="bell", media="media/bell.oga")
    broken = Item.objects.create(dataset=dataset, modality="audio", external_id="broken", media="media/broken.oga")
    project = Project(name="p", target_modality="audio")
    monkeypatch.setattr(stages, "media_part_items", lambda project, index: ("audio", [broken, good]))

    counts = stages.media_part(project, 0, lambda fraction: None)
    assert counts["made"] == 1 and counts["broken"] == 1 and counts["items"] == 2
    waveforms = derived_media.derived_paths("audio", good.id)
    assert (media_root / waveforms["waveform"]).is_file()
    assert not (media_root / derived_media.derived_paths("audio", broken.id)["waveform"]).exists()
