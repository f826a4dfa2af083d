"""`python -m sampling render`: point-cloud / mesh files -> view images + contact sheet."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sampling.progress import add_progress_flag, progress_bar

DESCRIPTION = """\
Render point clouds and meshes to still images for annotators.

Each input is read (PLY, PCD ascii/binary/binary_compressed, NPY [N,3|6], NPZ, OBJ,
OFF, STL, GLB/GLTF; meshes are sampled to --points surface points with --seed),
centred and scaled into the unit sphere, then drawn from --views directions evenly
spaced around the vertical axis at --elevation degrees, with nearer points brighter.

Output, per input file, in OUT_DIR/<file stem>/ (stems that repeat get -2, -3...):
  view_00.<fmt> ... view_NN.<fmt>   one image per view, --size x --size pixels
  sheet.<fmt>                       all views tiled, at most 4 per row
and OUT_DIR/manifest.json:
  {"settings": {...},
   "outputs": [{"input": "...", "dir": "...", "points": N, "views": [...], "sheet": "..."}],
   "errors":  [{"input": "...", "error": "..."}]}

Unreadable or empty files are listed under "errors" and skipped.
Exit status: 0 when every file rendered, 1 when some failed, 2 on bad arguments or
when no input file was found.
"""

EPILOG = """\
examples:
  python -m sampling render scans/ -o renders/
  python -m sampling render chair.ply lamp.obj -o renders/ --views 4 --size 256 --format png
  python -m sampling render lidar/ -o renders/ --up z --device cuda --batch 64
"""


PARSER_OPTIONS = dict(description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "render", help="render point clouds / meshes to view images and a contact sheet", **PARSER_OPTIONS
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sampling.pointcloud_io import DEFAULT_POINTS
    from sampling.render import DEFAULT_ELEVATION, DEFAULT_SIZE, DEFAULT_VIEWS, FORMATS

    parser.add_argument(
        "inputs", nargs="+", type=Path, help="files, or directories searched recursively for supported files"
    )
    parser.add_argument("-o", "--out-dir", type=Path, required=True, help="where images and manifest.json go")
    parser.add_argument("--views", type=int, default=DEFAULT_VIEWS, help=f"views per object (default: {DEFAULT_VIEWS})")
    parser.add_argument(
        "--size", type=int, default=DEFAULT_SIZE, help=f"image width and height in pixels (default: {DEFAULT_SIZE})"
    )
    parser.add_argument("--format", choices=FORMATS, default="webp", help="image format (default: webp)")
    parser.add_argument("--quality", type=int, default=90, help="WebP quality 1-100 (default: 90)")
    parser.add_argument(
        "--points",
        type=int,
        default=DEFAULT_POINTS,
        help=f"mesh samples; larger clouds are subsampled to it (default: {DEFAULT_POINTS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for mesh sampling/subsampling (default: 0)")
    parser.add_argument(
        "--elevation",
        type=float,
        default=DEFAULT_ELEVATION,
        help=f"camera height in degrees above the horizon (default: {DEFAULT_ELEVATION:g})",
    )
    parser.add_argument("--up", choices=("y", "z"), default="y", help="the object's vertical axis (default: y)")
    parser.add_argument(
        "--point-radius", type=int, default=1, help="splat radius in pixels, 0 = single pixel (default: 1)"
    )
    parser.add_argument(
        "--background", default="#ffffff", help="background colour, #rrggbb or R,G,B (default: #ffffff)"
    )
    parser.add_argument("--batch", type=int, default=8, help="files rendered together in one pass (default: 8)")
    parser.add_argument("--device", default=None, help="torch device: cpu, cuda, cuda:1 (default: auto)")
    add_progress_flag(parser)


def parse_color(text: str) -> tuple[int, int, int]:
    text = text.strip()
    try:
        if text.startswith("#") and len(text) == 7:
            rgb = tuple(int(text[i : i + 2], 16) for i in (1, 3, 5))
        else:
            rgb = tuple(int(v) for v in text.split(","))
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"colour must be #rrggbb or R,G,B in 0..255, got {text!r}") from None
    return rgb


def _output_dirs(files: list[Path], out_dir: Path) -> list[Path]:
    seen: dict[str, int] = {}
    dirs = []
    for f in files:
        seen[f.stem] = seen.get(f.stem, 0) + 1
        dirs.append(out_dir / (f.stem if seen[f.stem] == 1 else f"{f.stem}-{seen[f.stem]}"))
    return dirs


def run(args: argparse.Namespace) -> int:
    from sampling.pointcloud_io import PointCloudError, iter_supported_files, load_point_cloud
    from sampling.render import render_batch, save_views

    try:
        background = parse_color(args.background)
        for name in ("views", "size", "batch", "points"):
            if getattr(args, name) < 1:
                raise argparse.ArgumentTypeError(f"--{name} must be >= 1")
    except argparse.ArgumentTypeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = iter_supported_files(args.inputs)
    if not files:
        print("error: no input files found", file=sys.stderr)
        return 2
    outputs, errors = [], []
    targets = _output_dirs(files, args.out_dir)
    with progress_bar(len(files), "render", not args.no_progress, unit="files") as advance:
        for start in range(0, len(files), args.batch):
            batch = []
            for path, target in zip(files[start : start + args.batch], targets[start : start + args.batch]):
                try:
                    batch.append((path, target, load_point_cloud(path, n_points=args.points, seed=args.seed)))
                except PointCloudError as exc:
                    errors.append({"input": str(path), "error": str(exc)})
            if batch:
                images = render_batch(
                    [c.points for _, _, c in batch],
                    [c.colors for _, _, c in batch],
                    args.views,
                    args.size,
                    elevation=args.elevation,
                    up=args.up,
                    point_radius=args.point_radius,
                    background=background,
                    device=args.device,
                )
                for (path, target, cloud), views in zip(batch, images):
                    written = save_views(views, target, args.format, args.quality)
                    outputs.append(
                        {
                            "input": str(path),
                            "dir": str(target),
                            "points": len(cloud.points),
                            "views": [str(p) for p in written[:-1]],
                            "sheet": str(written[-1]),
                        }
                    )
            advance(min(args.batch, len(files) - start))
    settings = {
        k: getattr(args, k)
        for k in ("views", "size", "format", "quality", "points", "seed", "elevation", "up", "point_radius")
    }
    settings["background"] = list(background)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    manifest = args.out_dir / "manifest.json"
    manifest.write_text(json.dumps({"settings": settings, "outputs": outputs, "errors": errors}, indent=2))
    for err in errors:
        print(f"skipped: {err['error']}", file=sys.stderr)
    print(f"{len(outputs)} rendered, {len(errors)} failed -> {manifest}", file=sys.stderr)
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    """Run without the other subcommands: `python -m sampling.cli_render ...`."""
    parser = argparse.ArgumentParser(prog="python -m sampling render", **PARSER_OPTIONS)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
