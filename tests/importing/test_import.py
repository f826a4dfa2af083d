"""Importing bundles and E-MM1 folders: contents, idempotence, bulk paths."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from annotation.importing import import_bundle
from annotation.models import Caption, CaptionVector, Dataset, EmbeddingSpace, Item, ItemVector, VectorShard

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_bundle_import_loads_items_captions_and_unit_vectors(make_bundle, media_root, writer_path, fmt):
    root = make_bundle(fmt)
    summary = import_bundle(root)

    assert summary.items == 4 and summary.captions == 3
    dataset = Dataset.objects.get(name="demo-set")
    img0 = Item.objects.get(dataset=dataset, external_id="img0")
    assert img0.modality == "image" and img0.license == "CC BY 2.0"
    assert img0.metadata == {"photographer": "p0"}
    assert img0.media == "datasets/demo-set/media/img0.jpg"
    assert (media_root / img0.media).read_bytes() == b"jpeg bytes 0"
    assert Item.objects.get(external_id="img3").media == ""

    cap1 = Caption.objects.get(external_id="cap1")
    assert cap1.paired_item.external_id == "img1" and cap1.source_modality == "image"

    space = EmbeddingSpace.objects.get(name="toy-image")
    assert (space.dim, space.target_modality) == (8, "image")
    vector = ItemVector.objects.select_related("shard").get(space=space, item__external_id="img2")
    shard = vector.shard.load()
    assert isinstance(shard, np.memmap) and shard.dtype == np.float32
    original = np.load(root / "items.npy")[2]
    np.testing.assert_allclose(shard[vector.row], original / np.linalg.norm(original), rtol=1e-6)
    assert np.allclose(np.linalg.norm(shard, axis=1), 1.0, atol=1e-6)
    assert CaptionVector.objects.filter(space=space).count() == 3


def test_reimport_is_idempotent_and_upserts(make_bundle, media_root, writer_path, django_capture_on_commit_callbacks):
    root = make_bundle("csv")
    import_bundle(root)
    first_ids = sorted(Item.objects.values_list("id", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        import_bundle(root)
    assert sorted(Item.objects.values_list("id", flat=True)) == first_ids
    assert Caption.objects.count() == 3 and ItemVector.objects.count() == 4
    # Only the newest shard per side survives: old files are removed, not leaked.
    assert VectorShard.objects.count() == 2
    assert len(list((media_root / "vectors" / "toy-image").iterdir())) == 2

    # A changed row is updated in place, not duplicated.
    (root / "captions.csv").write_text(
        (root / "captions.csv").read_text().replace("a photo number 1", "a corrected caption")
    )
    import_bundle(root)
    assert Caption.objects.get(external_id="cap1").text == "a corrected caption"
    assert Caption.objects.count() == 3


def test_emm1_layout(tmp_path, writer_path):
    infos = tmp_path / "emm1" / "infos"
    infos.mkdir(parents=True)
    (infos / "image.csv").write_text(
        "encord_image_id,source_dataset,dataset_license,file_name,save_folder\n"
        "i-1,coco,CC BY 4.0,000001.jpg,coco/images\n"
    )
    (infos / "audio.csv").write_text(
        "encord_audio_id,source_dataset,dataset_license,file_name,save_folder,youtube_id,start_time,end_time\n"
        "a-1,audioset,CC BY 4.0,x.wav,audio,abcdEFG,30,40\n"
    )
    (infos / "points.csv").write_text(
        "encord_points_id,source_dataset,dataset_license,file_name,save_folder,file_id\n"
        "p-1,objaverse,ODC-By,obj.npy,points,f00d\n"
    )
    (infos / "text.csv").write_text(
        "encord_text_id,caption,source_dataset,dataset_license,paired_modality,encord_paired_id\n"
        't-1,"A dog barks, twice",audiocaps,MIT,audio,a-1\n'
    )
    import_bundle(tmp_path / "emm1")

    dataset = Dataset.objects.get(name="emm1")
    audio = Item.objects.get(dataset=dataset, external_id="a-1")
    assert audio.modality == "audio" and audio.media == "audio/x.wav"
    assert audio.metadata == {
        "file_name": "x.wav",
        "save_folder": "audio",
        "youtube_id": "abcdEFG",
        "start_time": "30",
        "end_time": "40",
    }
    assert Item.objects.get(external_id="p-1").modality == "point_cloud"
    caption = Caption.objects.get(external_id="t-1")
    assert caption.text == "A dog barks, twice" and caption.paired_item == audio
    assert caption.source_modality == "audio"


def test_management_command_imports(make_bundle, capsys):
    root = make_bundle("jsonl")
    call_command("import_dataset", str(root), "--dataset", "from-cli")
    assert Dataset.objects.filter(name="from-cli").exists()
    assert Item.objects.filter(dataset__name="from-cli").count() == 4
    assert '"items": 4' in capsys.readouterr().out
