"""Importing the E-MM1 100M layout: an export re-imports to the same groups, and bad
files are refused with file, line and column, storing nothing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from annotation.groups import create_build, iter_chunks, runner
from annotation.groups.importing import import_groups
from annotation.importing.errors import BundleError
from annotation.models import GroupsBuild

from .conftest import four_spaces, wait_settled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def built(imported_groups, settings):
    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 16
    build = create_build(["groupset"], four_spaces(), k=3)
    runner.start(build.pk)
    build = wait_settled(build)
    assert build.state == "succeeded", build.error
    return build


def test_export_reimports_to_the_same_groups(built, settings):
    settings.PAIRRATE_GROUPS_CAPTION_CHUNK_ROWS = 7  # other chunks: the files do not depend on them
    again = import_groups(built.output_folder / "csv", ["groupset"])
    assert again.state == "succeeded" and again.source == "imported" and again.modalities == built.modalities
    assert again.k == 3 and again.counts["captions"] == 43
    original, loaded = list(iter_chunks(built)), list(iter_chunks(again))
    assert len(loaded) == 7
    assert (np.concatenate([c.caption_ids for c in original]) == np.concatenate([c.caption_ids for c in loaded])).all()
    for modality in built.modalities:
        assert (
            np.concatenate([c.items[modality][0] for c in original])
            == np.concatenate([c.items[modality][0] for c in loaded])
        ).all()
        assert np.isnan(np.concatenate([c.items[modality][1] for c in loaded])).all()
    csv_files = [name for name in built.files if name.startswith("csv/")]
    assert len(csv_files) == 3 + 5
    for name in csv_files:
        assert again.files[name]["sha256"] == built.files[name]["sha256"], name


def test_bad_layout_is_refused_with_file_line_and_column(built, tmp_path):
    copy = tmp_path / "groups"
    shutil.copytree(built.output_folder / "csv", copy)
    path = copy / "nn_2" / "data_groups.csv"
    lines = path.read_text().split("\n")
    fields = lines[4].split(",")
    fields[3] = "no-such-image"
    lines[4] = ",".join(fields)
    path.write_text("\n".join(lines))
    (copy / "nn_3" / "data_groups.csv").write_text(
        (copy / "nn_3" / "data_groups.csv").read_text().replace(",3\n", ",4\n", 1)
    )
    before = set(GroupsBuild.objects.values_list("pk", flat=True))
    with pytest.raises(BundleError) as caught:
        import_groups(copy, ["groupset"])
    messages = [str(e) for e in caught.value.errors]
    assert (
        "nn_2/data_groups.csv, line 5, column 'encord_image_id': no image item 'no-such-image' in the datasets"
        in messages
    ), messages
    assert "nn_3/data_groups.csv, line 2, column 'nn_index': nn_index must be 3 in nn_3/" in messages, messages
    shutil.rmtree(copy / "nn_2")
    with pytest.raises(BundleError, match="nn_2: missing"):
        import_groups(copy, ["groupset"])
    assert set(GroupsBuild.objects.values_list("pk", flat=True)) == before


def test_command_imports_a_layout_and_reports_errors(built, tmp_path):
    from django.core.management import CommandError, call_command

    call_command("build_groups", "--import", str(built.output_folder / "csv"), "--datasets", "groupset")
    imported = GroupsBuild.objects.get(source="imported")
    assert imported.files["csv/nn_1/data_groups.csv"]["sha256"] == built.files["csv/nn_1/data_groups.csv"]["sha256"]
    with pytest.raises(CommandError, match="no nn_1/data_groups.csv"):
        call_command("build_groups", "--import", str(tmp_path), "--datasets", "groupset")
    with pytest.raises(CommandError, match="embeds text-audio pairs, not text-image"):
        call_command("build_groups", "--datasets", "groupset", "--space", "image=g-audio", "--no-wait")
    assert GroupsBuild.objects.count() == 2
