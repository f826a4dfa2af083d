"""Export `emm1`, import it into an empty database, rate the same pairs, export again:
the two files are byte for byte the same."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from pathlib import Path

from annotation.export import create_run, execute_run
from annotation.importing import import_bundle
from annotation.models import Caption, Dataset, ExportRun, Item, Project
from tests.export.builders import add_task, make_users, new_project, rate

LABELS = {"1": "good", "2": "partial", "3": "bad"}


def write_release(root: Path) -> Path:
    """A small E-MM1 release: images, audio clips with YouTube spans, point clouds, captions."""
    infos = root / "infos"
    infos.mkdir(parents=True)
    (infos / "image.csv").write_text(
        "encord_image_id,source_dataset,dataset_license,file_name,save_folder\n"
        + "".join(f"im{i},coco,CC BY 2.0,{i:06d}.jpg,images/coco\n" for i in range(5))
    )
    (infos / "audio.csv").write_text(
        "encord_audio_id,source_dataset,dataset_license,file_name,save_folder,youtube_id,start_time,end_time\n"
        + "".join(f"au{i},audiocaps,CC BY 4.0,au{i}.wav,audio,yt{i}x,{i * 10},{i * 10 + 10}\n" for i in range(3))
    )
    (infos / "points.csv").write_text(
        "encord_points_id,source_dataset,dataset_license,file_name,save_folder,file_id\n"
        + "".join(f"pc{i},objaverse,ODC-By,pc{i}.npy,points,obj-{i}\n" for i in range(4))
    )
    (infos / "text.csv").write_text(
        "encord_text_id,caption,source_dataset,dataset_license,paired_modality,encord_paired_id\n"
        + "".join(f'tx{i},"a caption, number {i}",coco,CC BY 4.0,image,im{i}\n' for i in range(3))
        + "".join(f"tx{i + 3},a sound {i},audiocaps,CC BY 4.0,audio,au{i}\n" for i in range(3))
    )
    return root


def rate_release(triplets: list[tuple[str, str, str]]) -> None:
    """One single-annotator project over (text id, item id, label) triplets."""
    by_caption = defaultdict(list)
    for text_id, item_id, label in triplets:
        by_caption[text_id].append((item_id, label))
    projects = {}
    annotator = make_users("rater")[0]
    for position, (text_id, pairs) in enumerate(sorted(by_caption.items())):
        caption = Caption.objects.get(external_id=text_id)
        modality = Item.objects.get(external_id=pairs[0][0]).modality
        if modality not in projects:
            projects[modality] = new_project(f"rt-{modality}", 1, modality)
        project = projects[modality]
        task = add_task(project, caption, [Item.objects.get(external_id=i) for i, _ in pairs], position)
        rate(project, task, {annotator: [label for _, label in pairs]})


def export_emm1() -> Path:
    run = execute_run(create_run(list(Project.objects.values_list("pk", flat=True)), "emm1").pk)
    assert run.state == "succeeded", run.error
    return run.absolute_path


def test_emm1_round_trip_gives_identical_files(db, tmp_path, django_user_model):
    import_bundle(write_release(tmp_path / "release"), "release")
    rate_release(
        [
            ("tx0", "pc0", "good"),
            ("tx0", "pc1", "bad"),
            ("tx1", "pc2", "partial"),
            ("tx3", "pc3", "good"),
            ("tx3", "pc0", "bad"),
            ("tx4", "im3", "good"),
            ("tx5", "im4", "partial"),
            ("tx5", "im0", "bad"),
        ]
    )
    first = export_emm1()
    first_bytes = first.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = sorted(archive.namelist())
        triplets = list(csv.DictReader(io.StringIO(archive.read("triplets.csv").decode())))
        audio = archive.read("infos/audio.csv").decode()
    assert names == ["infos/audio.csv", "infos/image.csv", "infos/points.csv", "infos/text.csv", "triplets.csv"]
    assert "au0,audiocaps,CC BY 4.0,au0.wav,audio,yt0x,0,10" in audio, "release columns come back unchanged"
    assert len(triplets) == 8

    # An empty database: nothing of the first import or its projects is left.
    Project.objects.all().delete()
    Dataset.objects.all().delete()
    ExportRun.objects.all().delete()
    django_user_model.objects.all().delete()
    assert not Item.objects.exists() and not Caption.objects.exists()

    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(io.BytesIO(first_bytes)) as archive:
        archive.extractall(unpacked)
    summary = import_bundle(unpacked, "release")
    assert (summary.items, summary.captions) == (11, 5)
    assert Item.objects.get(external_id="au1").metadata == {
        "file_name": "au1.wav",
        "save_folder": "audio",
        "youtube_id": "yt1x",
        "start_time": "10",
        "end_time": "20",
    }
    rate_release([(t["encord_text_id"], t["encord_annotated_id"], LABELS[t["annotation"]]) for t in triplets])
    second = export_emm1()
    with zipfile.ZipFile(io.BytesIO(first_bytes)) as a, zipfile.ZipFile(second) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            assert a.read(name) == b.read(name), name
    assert second.read_bytes() == first_bytes
