"""Writes kb/viz_assets/world-110m.json: country shapes as SVG path data, keyed by ISO 3166-1
alpha-2 code, for the map page (``/map``), which draws them with no network.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python data/reference/make_world.py package/countries-110m.json

The shapes are Natural Earth's (public domain) 1:110m countries, as TopoJSON in the
``world-atlas`` npm package (ISC licence, Mike Bostock). TopoJSON ids are ISO 3166-1 numeric
codes; pycountry maps them to alpha-2, the code the knowledge base's countries carry
(``ms:iso3166Alpha2``). Shapes without a numeric id (Kosovo, Northern Cyprus, Somaliland) keep
their name only and are drawn grey. The projection is equirectangular (longitude and
latitude as x and y, 2 units per degree: a 720 x 360 box), done here once so the server only
copies strings. The output is committed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pycountry

OUT = Path(__file__).resolve().parent.parent.parent / "kb" / "viz_assets" / "world-110m.json"
SCALE = 2  # SVG units per degree


def arcs_of(topology: dict) -> list[list[tuple[float, float]]]:
    """The topology's arcs as absolute (longitude, latitude) points (delta-decoded and
    un-quantized)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    out = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        out.append(points)
    return out


def ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """One closed ring from arc indexes (a negative index ~i is arc i reversed); consecutive
    arcs share their end point, which is kept once."""
    points: list[tuple[float, float]] = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
        points.extend(arc[1:] if points else arc)
    return points


def unwrap(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A ring that crosses the antimeridian (Fiji, Russia) kept continuous: a jump of more
    than 180 degrees in longitude shifts the rest by 360, past the map's edge (clipped),
    instead of a line drawn across the world."""
    out: list[tuple[float, float]] = []
    shift = 0.0
    for lon, lat in points:
        if out and abs(lon + shift - out[-1][0]) > 180:
            shift += 360 if out[-1][0] > lon + shift else -360
        out.append((lon + shift, lat))
    return out


def path_data(polygons: list[list[list[int]]], arcs: list[list[tuple[float, float]]]) -> str:
    """SVG path data for polygons (each a list of rings), projected equirectangularly."""
    parts = []
    for polygon in polygons:
        for indexes in polygon:
            pts = unwrap(ring(indexes, arcs))
            xy = [f"{(lon + 180) * SCALE:.1f},{(90 - lat) * SCALE:.1f}" for lon, lat in pts]
            parts.append("M" + "L".join(xy) + "Z")
    return "".join(parts)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)  # noqa: T201
        return 2
    topology = json.loads(Path(argv[0]).read_text())
    arcs = arcs_of(topology)
    shapes = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        kind = geometry.get("type")
        if kind == "Polygon":
            polygons = [geometry["arcs"]]
        elif kind == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        numeric = geometry.get("id")
        found = pycountry.countries.get(numeric=numeric) if numeric else None
        shapes.append({"iso": found.alpha_2 if found else "",
                       "name": geometry.get("properties", {}).get("name", ""),
                       "d": path_data(polygons, arcs)})
    shapes.sort(key=lambda s: (s["iso"], s["name"]))
    OUT.write_text(json.dumps({
        "source": "Natural Earth 1:110m countries (public domain), via world-atlas 2.0.2 "
                  "(ISC licence); equirectangular, 2 units per degree",
        "width": 360 * SCALE, "height": 180 * SCALE, "shapes": shapes}, ensure_ascii=False,
        separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
