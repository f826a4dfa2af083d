"""Archives are unpacked by the import run (the worker's code, run here in-process), within
limits: zip-slip, links and special files, too many members, too many bytes and bomb-like
ratios are refused with their own messages; the database and media storage stay unchanged and
the uploaded and unpacked files are gone when the run ends."""

from __future__ import annotations

import io
import stat
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest

from annotation.importing.runs import execute_run
from annotation.models import ImportRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported_once(make_bundle, snapshot):
    from annotation.importing import import_bundle

    import_bundle(make_bundle("csv", name="good"))
    return snapshot()


def upload_folder(settings) -> Path:
    folder = Path(settings.PAIRRATE_UPLOAD_ROOT) / uuid.uuid4().hex
    folder.mkdir()
    return folder


def zip_of(folder: Path, target: Path, extra=()) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"bundle/{path.relative_to(folder)}")
        for info, data in extra:
            archive.writestr(info, data)
    return target


def tar_of(folder: Path, target: Path, extra=()) -> Path:
    with tarfile.open(target, "w:gz") as archive:
        archive.add(folder, "bundle")
        for info, data in extra:
            archive.addfile(info, io.BytesIO(data) if data else None)
    return target


def run_upload(archive: Path) -> ImportRun:
    run = ImportRun.objects.create(dataset_name="", source=str(archive), upload=True)
    return execute_run(run.pk)


def assert_refused(archive, snapshot, before, settings, words) -> ImportRun:
    run = run_upload(archive)
    assert run.state == "failed"
    assert run.errors[0]["file"] == archive.name and words in run.errors[0]["message"], run.errors
    assert snapshot() == before
    assert not any(Path(settings.PAIRRATE_UPLOAD_ROOT).iterdir()), "upload and unpacked files removed"
    return run


def test_valid_archives_import_and_leave_no_files(make_bundle, settings, media_root):
    root = make_bundle("csv")
    for maker, name in ((zip_of, "b.zip"), (tar_of, "b.tar.gz")):
        run = run_upload(maker(root, upload_folder(settings) / name))
        assert run.state == "succeeded", run.errors
        assert run.counts["items"] == 4 and (media_root / "datasets/demo-set/media/img0.jpg").is_file()
        assert not any(Path(settings.PAIRRATE_UPLOAD_ROOT).iterdir())


def test_keep_setting_retains_the_files_for_debugging(make_bundle, settings):
    settings.PAIRRATE_KEEP_IMPORT_FILES = True
    archive = zip_of(make_bundle("csv"), upload_folder(settings) / "b.zip")
    assert run_upload(archive).state == "succeeded"
    assert archive.is_file() and list(Path(settings.PAIRRATE_UPLOAD_ROOT).glob("unpacked-*/b/bundle/pairrate.json"))


@pytest.mark.parametrize(
    "member, words",
    [
        ("../evil.txt", "archive member '../evil.txt' contains '..'"),
        ("bundle/../../evil.txt", "contains '..'"),
        ("/tmp/evil.txt", "archive member '/tmp/evil.txt' is absolute"),
    ],
)
def test_zip_slip_is_refused(make_bundle, imported_once, snapshot, settings, member, words):
    archive = zip_of(make_bundle("csv"), upload_folder(settings) / "b.zip", [(zipfile.ZipInfo(member), b"x")])
    assert_refused(archive, snapshot, imported_once, settings, words)
    assert not Path("/tmp/evil.txt").exists()


def test_tar_slip_is_refused(make_bundle, imported_once, snapshot, settings):
    info = tarfile.TarInfo("../evil.txt")
    info.size = 1
    archive = tar_of(make_bundle("csv"), upload_folder(settings) / "b.tar.gz", [(info, b"x")])
    assert_refused(archive, snapshot, imported_once, settings, "archive member '../evil.txt' contains '..'")


def link_member(kind: str):
    info = tarfile.TarInfo("bundle/media/img9.jpg")
    info.type = {
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "device": tarfile.CHRTYPE,
        "fifo": tarfile.FIFOTYPE,
    }[kind]
    info.linkname = "/etc/passwd"
    return info


@pytest.mark.parametrize(
    "kind, words",
    [
        ("symlink", "is a symbolic link"),
        ("hardlink", "is a hard link"),
        ("device", "is a device file"),
        ("fifo", "is a FIFO"),
    ],
)
def test_links_and_devices_in_tar_are_refused_with_their_own_message(
    make_bundle, imported_once, snapshot, settings, kind, words
):
    archive = tar_of(make_bundle("csv"), upload_folder(settings) / "b.tar.gz", [(link_member(kind), None)])
    run = assert_refused(archive, snapshot, imported_once, settings, words)
    assert "corrupt archive" not in run.errors[0]["message"]
    assert "links and special files are not allowed" in run.errors[0]["message"]


def test_symlink_in_zip_is_refused(make_bundle, imported_once, snapshot, settings):
    info = zipfile.ZipInfo("bundle/media/img9.jpg")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = zip_of(make_bundle("csv"), upload_folder(settings) / "b.zip", [(info, b"/etc/passwd")])
    assert_refused(archive, snapshot, imported_once, settings, "'bundle/media/img9.jpg' is a symbolic link")


@pytest.mark.parametrize(
    "setting, value, words",
    [
        ("PAIRRATE_ARCHIVE_MAX_MEMBERS", 5, "more than 5 members"),
        ("PAIRRATE_ARCHIVE_MAX_BYTES", 1000, "expands to more than 1000 bytes"),
    ],
)
def test_archive_over_a_limit(make_bundle, imported_once, snapshot, settings, setting, value, words):
    setattr(settings, setting, value)
    root = make_bundle("csv")
    for maker, name in ((zip_of, "b.zip"), (tar_of, "b.tgz")):
        archive = maker(root, upload_folder(settings) / name)
        assert_refused(archive, snapshot, imported_once, settings, words)


def test_compression_ratio_bomb(make_bundle, imported_once, snapshot, settings):
    """20 MB of zeros compress to about 20 kB: past the default ratio of 200, found while
    counting for tar.gz (no sizes up front) and from the headers for zip."""
    zeros = b"\0" * (20 * 1024**2)
    info = tarfile.TarInfo("bundle/zeros.bin")
    info.size = len(zeros)
    zip_info = zipfile.ZipInfo("bundle/zeros.bin")
    zip_info.compress_type = zipfile.ZIP_DEFLATED
    root = make_bundle("csv")
    for maker, name, extra in ((zip_of, "b.zip", [(zip_info, zeros)]), (tar_of, "b.tar.gz", [(info, zeros)])):
        archive = maker(root, upload_folder(settings) / name, extra)
        assert archive.stat().st_size < 200_000
        assert_refused(archive, snapshot, imported_once, settings, "times its size")


def test_corrupt_archive(snapshot, settings):
    before = snapshot()
    archive = upload_folder(settings) / "b.zip"
    archive.write_bytes(b"PK\x03\x04 not really a zip")
    assert_refused(archive, snapshot, before, settings, "corrupt archive")
