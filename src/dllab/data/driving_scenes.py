"""Road scenes seen from a car, with an exact class label at every pixel.

Cityscapes, CamVid and Mapillary cannot be downloaded offline, so the driving-segmentation
project trains on scenes drawn here. Each scene is a small world in metres seen through a
pinhole camera at driver height:

* the road is a flat strip in front of the camera, turned by a small yaw, so its edges and
  lane lines converge to a vanishing point on the horizon; lanes have solid and dashed
  markings a few pixels wide at the bottom and thinner with distance; curbs and sidewalks
  flank it; two rows of facades (buildings with windows, hedges, tree lines) stand behind;
* cars (boxes with body, cabin, wheels, lights), pedestrians, poles and street trees stand
  on the ground at a distance Z and are drawn `f / Z` pixels per metre, so their size is
  proportional to their distance below the horizon; they are drawn far to near, so nearer
  things hide farther ones;
* surfaces are textured with scikit-image's photographs (asphalt and plaster from `gravel`,
  paving and brick from `brick`, hedges and tree crowns from `grass`), mapped in world
  coordinates so the texture shrinks with distance (blurred by distance against aliasing).

Every pixel's label is the class of the surface drawn last there; contact shadows under cars
and people, lighting, haze or fog, lit windows and lamps, rain, motion blur and sensor noise
change the image only. Lane markings are a few pixels wide at the bottom row (width / 120)
and never under one pixel in the distance, so the thin class stays learnable to the horizon. The geometry (and every label)
is drawn from `default_rng([seed, index])` and the weather from a second generator, so a
scene is a pure function of `(seed, index)` whatever `count` is, and the `shifted` condition
(dusk, fog, rain, wet road) of a scene has exactly the masks of its `clear` twin.

>>> images, masks = render_driving_scenes(4, height=256, width=512, seed=0)
>>> images.shape, masks.shape, images.dtype, masks.dtype
((4, 256, 512, 3), (4, 256, 512), dtype('uint8'), dtype('uint8'))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np

from dllab.errors import ConfigError

__all__ = [
    "CLASSES",
    "CONDITIONS",
    "IGNORE",
    "SegClass",
    "colorize",
    "render_driving_scene",
    "render_driving_scenes",
]


@dataclass(frozen=True)
class SegClass:
    """One class: Cityscapes' name, labelId and colour (lane marking: Mapillary Vistas')."""

    name: str
    label_id: int  # Cityscapes labelId (the value in *_gtFine_labelIds.png)
    color: tuple[int, int, int]  # RGB of the class in Cityscapes' colour masks


# The index in this tuple is the train id in the masks. Lane marking is not a Cityscapes class
# (Cityscapes labels markings as road); its name and colour are Mapillary Vistas'
# ("marking--general", white) and its labelId is 34, the first id Cityscapes leaves unused.
CLASSES: tuple[SegClass, ...] = (
    SegClass("road", 7, (128, 64, 128)),
    SegClass("sidewalk", 8, (244, 35, 232)),
    SegClass("building", 11, (70, 70, 70)),
    SegClass("pole", 17, (153, 153, 153)),
    SegClass("vegetation", 21, (107, 142, 35)),
    SegClass("sky", 23, (70, 130, 180)),
    SegClass("person", 24, (220, 20, 60)),
    SegClass("car", 26, (0, 0, 142)),
    SegClass("lane marking", 34, (255, 255, 255)),
)
IGNORE: int = 255  # train id of pixels no class covers, Cityscapes' convention
CONDITIONS = ("clear", "shifted")

ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, SKY, PERSON, CAR, LANE = range(len(CLASSES))

# ---------------------------------------------------------------- textures
# (photograph shipped in scikit-image's wheel, contrast): how strongly each texture modulates
# the colour it multiplies; asphalt and plaster are the gravel photograph, fine and faint.
TEXTURES = (("brick", 0.7), ("grass", 0.9), ("gravel", 0.75), ("gravel", 0.35))
BRICK, GRASS, GRAVEL, ASPHALT, FLAT = range(5)
_MIP_SIGMAS = (0.0, 1.0, 2.5, 6.0)  # blur of each level, in texels; a last level is flat
_MIP_BOUNDS = np.array([1.5, 3.0, 7.0, 16.0], np.float32)  # texels per pixel for the next level
_TEX = 512  # side of every scikit-image texture
_TEX_SCALE = 100.0  # textures are stored as uint8 hundredths: a quarter of the memory to read


@cache
def _texture_stack() -> np.ndarray:
    """uint8 (5 textures, 5 levels, 512, 512): hundredths of a factor of mean 1 that
    multiplies a surface's colour.

    Level l is the texture blurred by _MIP_SIGMAS[l] (wrapping at the edges, as the texture
    is tiled); the last level is 1 everywhere, for surfaces so far away that a pixel covers
    many texels, where unfiltered sampling would only add aliasing noise. FLAT is all ones.
    """
    import skimage.data

    stack = np.full((len(TEXTURES) + 1, len(_MIP_SIGMAS) + 1, _TEX, _TEX), _TEX_SCALE, np.float32)
    for k, (name, contrast) in enumerate(TEXTURES):
        tex = getattr(skimage.data, name)().astype(np.float32)
        tex = 1.0 + contrast * (tex / tex.mean() - 1.0)
        for level, sigma in enumerate(_MIP_SIGMAS):
            pad = int(3 * sigma) + 1  # blur a wrapped copy, so the tiles still join
            big = cv2.GaussianBlur(np.pad(tex, pad, mode="wrap"), (0, 0), sigma) if sigma else tex
            stack[k, level] = (big[pad:-pad, pad:-pad] if sigma else tex) * _TEX_SCALE
    return np.clip(np.round(stack), 0, 255).astype(np.uint8)


def _sample(tex_id: np.ndarray, p: np.ndarray, q: np.ndarray, tpp: np.ndarray) -> np.ndarray:
    """Texture factors (float32) at texel coordinates (p, q), the level chosen by texels per
    pixel (a cheap mip-map: blur instead of aliasing where a pixel covers many texels)."""
    stack = _texture_stack()
    level = sum((tpp > bound).view(np.int8) for bound in _MIP_BOUNDS.tolist())
    tu = p.astype(np.int32) & (_TEX - 1)
    tv = q.astype(np.int32) & (_TEX - 1)
    flat = ((tex_id * stack.shape[1] + level) * _TEX + tv) * _TEX + tu
    return stack.reshape(-1)[flat].astype(np.float32) * (1 / _TEX_SCALE)


@cache
def _noise_bank(height: int, width: int) -> np.ndarray:
    """A fixed field of unit Gaussian noise, twice the image in each side; scenes take
    seeded crops of it (drawing fresh normals for every pixel costs more than the scene)."""
    rng = np.random.default_rng(20260405)
    return rng.standard_normal((2 * height, 2 * width, 3), dtype=np.float32)


# ---------------------------------------------------------------- the world
@dataclass
class _Camera:
    """A pinhole camera at height `hc` metres above a flat road, turned by a small yaw.

    Road coordinates: `d` metres to the right of the camera, `s` metres ahead along the
    road, `y` metres up. A pixel row `v = (row - cy) / f` below the horizon sees the ground
    at depth `Z = hc / v`; a point at depth Z is drawn `f / Z` pixels per metre.
    """

    f: float  # focal length in pixels
    cx: float  # principal point column
    cy: float  # horizon row
    hc: float  # camera height in metres
    yaw: float  # road direction relative to the optical axis, radians

    def project(self, d: np.ndarray, s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        """Pixel (column, row) and depth Z of road points (d, s, y)."""
        c, sn = math.cos(self.yaw), math.sin(self.yaw)
        x_cam, z = d * c + s * sn, -d * sn + s * c
        return self.cx + self.f * x_cam / z, self.cy + self.f * (self.hc - y) / z, z


@dataclass
class _Facades:
    """Consecutive facade segments along one vertical plane `d = offset`, sorted by start."""

    offset: float  # lateral position of the plane in metres
    start: np.ndarray  # (n,) s where each segment begins
    height: np.ndarray  # (n,) metres
    kind: np.ndarray  # (n,) BUILDING or VEGETATION
    color: np.ndarray  # (n, 3) albedo
    tex: np.ndarray  # (n,) texture id
    floor: np.ndarray  # (n,) floor height in metres (buildings: windows per floor)
    pitch: np.ndarray  # (n,) window spacing along the facade in metres
    bump: np.ndarray  # (n,) amplitude of a bushy top in metres (vegetation)


@dataclass
class _Road:
    """Lateral layout of the street, in metres from the camera (negative = left)."""

    left: float  # road edges
    right: float
    lanes: list[tuple[float, bool]]  # (centre, oncoming): oncoming lanes are left of centre
    lines: list[tuple[float, str, bool]]  # (d, 'solid' | 'dashed' | 'double', yellow)
    line_width: float  # metres
    dash: float  # dash length and period in metres
    period: float
    phase: float
    walk_left: float  # outer edges of the sidewalks (where the front facades stand)
    walk_right: float
    colors: dict[str, np.ndarray] = field(default_factory=dict)


_PAINT = np.array(  # car paints: white, silver, grey, black, red, blue, dark green, beige
    [
        [0.85, 0.85, 0.86],
        [0.62, 0.64, 0.66],
        [0.38, 0.39, 0.41],
        [0.08, 0.08, 0.09],
        [0.62, 0.08, 0.07],
        [0.12, 0.22, 0.5],
        [0.1, 0.28, 0.18],
        [0.72, 0.66, 0.52],
    ],
    np.float32,
)
_PLASTER = np.array(  # facade colours: cream, grey, terracotta, pale blue, white, ochre
    [
        [0.78, 0.72, 0.6],
        [0.55, 0.55, 0.55],
        [0.62, 0.36, 0.26],
        [0.6, 0.66, 0.72],
        [0.85, 0.84, 0.8],
        [0.75, 0.58, 0.32],
    ],
    np.float32,
)


def _camera(rng: np.random.Generator, height: int, width: int) -> _Camera:
    return _Camera(
        f=width * rng.uniform(0.95, 1.15),
        cx=width / 2,
        cy=height * rng.uniform(0.38, 0.46),
        hc=rng.uniform(1.35, 1.7),
        yaw=rng.uniform(-0.06, 0.06),
    )


def _road(rng: np.random.Generator, cam: _Camera, height: int, width: int) -> _Road:
    lanes = int(rng.integers(2, 5))
    lane_w = rng.uniform(3.0, 3.7)
    ego = int(rng.integers(0, lanes))
    left = -(ego + 0.5) * lane_w + rng.uniform(-0.4, 0.4)
    right = left + lanes * lane_w
    two_way = lanes % 2 == 0 and rng.random() < 0.7
    yellow = two_way and rng.random() < 0.3
    lines = []
    for k in range(lanes + 1):
        d = left + k * lane_w
        if k in (0, lanes):  # edge lines sit just inside the road
            if rng.random() < 0.75:
                lines.append((d + (0.3 if k == 0 else -0.3), "solid", False))
        elif two_way and k == lanes // 2:
            lines.append((d, "double" if rng.random() < 0.4 else "solid", yellow))
        else:
            lines.append((d, "dashed", False))
    # A few pixels wide at the bottom row whatever the resolution, thinner with distance.
    z_near = cam.hc * cam.f / (height - cam.cy)
    line_px = max(2.0, width / 120) * rng.uniform(0.8, 1.2)
    dash = rng.uniform(2.5, 4.5)
    grey = rng.uniform(0.25, 0.38)
    lane_list = [(left + (k + 0.5) * lane_w, two_way and k < lanes // 2) for k in range(lanes)]
    return _Road(
        left=left,
        right=right,
        lanes=lane_list,
        lines=lines,
        line_width=line_px * z_near / cam.f,
        dash=dash,
        period=dash * rng.uniform(2.0, 3.5),
        phase=rng.uniform(0, 20),
        walk_left=left - rng.uniform(2.0, 4.5),
        walk_right=right + rng.uniform(2.0, 4.5),
        colors={
            "road": np.array([grey, grey, grey * rng.uniform(1.0, 1.08)], np.float32),
            "walk": np.full(3, rng.uniform(0.5, 0.68), np.float32) * [1.0, 0.97, 0.92],
            "curb": np.full(3, rng.uniform(0.68, 0.8), np.float32),
            "white": np.full(3, rng.uniform(0.75, 0.9), np.float32),
            "yellow": np.array([0.85, 0.68, 0.15], np.float32),
        },
    )


def _facades(rng: np.random.Generator, offset: float, back: bool) -> _Facades:
    """Segments from just behind the camera to 2 km ahead (beyond that a facade is under a
    pixel); the front row mixes buildings and hedges, the back row buildings and tree lines."""
    starts, s = [], -10.0
    while s < 2000:
        starts.append(s)
        s += rng.uniform(8, 30) * (1 + max(s, 0) / 150)  # far segments are longer
    n = len(starts)
    veg = rng.random(n) < (0.45 if back else 0.3)
    height = np.where(
        veg,
        rng.uniform(8, 16, n) if back else rng.uniform(2.2, 3.5, n),
        rng.uniform(10, 30, n) if back else rng.uniform(6, 22, n),
    )
    green = np.array([0.2, 0.32, 0.1], np.float32) * rng.uniform(0.6, 1.2, (n, 1))
    plaster = _PLASTER[rng.integers(0, len(_PLASTER), n)] * rng.uniform(0.8, 1.1, (n, 1))
    return _Facades(
        offset=offset,
        start=np.asarray(starts, np.float32),
        height=height.astype(np.float32),
        kind=np.where(veg, VEGETATION, BUILDING),
        color=np.where(veg[:, None], green, plaster).astype(np.float32),
        tex=np.where(veg, GRASS, np.where(rng.random(n) < 0.4, BRICK, ASPHALT)),
        floor=rng.uniform(2.9, 3.6, n).astype(np.float32),
        pitch=rng.uniform(2.2, 4.0, n).astype(np.float32),
        bump=np.where(veg, rng.uniform(0.3, 1.5, n) * (3 if back else 1), 0).astype(np.float32),
    )


# ---------------------------------------------------------------- the background
@dataclass
class _Canvas:
    """What rendering fills in: colour before lighting, label, depth, and what the weather
    pass needs to know (windows that may be lit at dusk, lights of cars, shadow factor)."""

    color: np.ndarray  # (H, W, 3) float32 albedo x texture x local light
    label: np.ndarray  # (H, W) uint8 train ids
    depth: np.ndarray  # (H, W) float32 metres along the optical axis (sky: inf)
    windows: np.ndarray  # (H, W) float32 in [0, 1]: a window that may light up at dusk
    leaf_scale: np.ndarray  # (H, W) float32 texels per pixel of tree leaves there, else 0
    lights: list[tuple[np.ndarray, tuple[float, float, float]]] = field(default_factory=list)


def _columns(cam: _Camera, a: np.ndarray, b: np.ndarray, sides: tuple[_Facades, _Facades]):
    """What each image column sees of one row of facades (left plane or right plane):
    depth t, position s along the road, and the seen segment's attributes, all (W,)."""
    left, right = sides
    is_left = a < 0
    with np.errstate(divide="ignore"):
        t = np.where(is_left, left.offset / a, right.offset / a)
    t = np.where(np.isfinite(t) & (t > 0), t, np.inf).astype(np.float32)
    s = np.where(np.isfinite(t), t * b, 0.0).astype(np.float32)
    il = np.clip(np.searchsorted(left.start, s, "right") - 1, 0, len(left.start) - 1)
    ir = np.clip(np.searchsorted(right.start, s, "right") - 1, 0, len(right.start) - 1)

    def pick(name: str) -> np.ndarray:
        lv, rv = getattr(left, name)[il], getattr(right, name)[ir]
        return np.where(is_left if lv.ndim == 1 else is_left[:, None], lv, rv)

    wobble = np.sin(s * 0.9 + 0.7 * il) * 0.6 + np.sin(s * 2.3 + ir) * 0.4  # bushy tops
    lit = np.where(is_left, 1.0, 0.82)[:, None]  # the two sides face the sun differently
    return {
        "t": t,
        "s": s,
        "top": pick("height") + pick("bump") * wobble,
        "kind": pick("kind"),
        "color": (pick("color") * lit).astype(np.float32),
        "tex": pick("tex"),
        "floor": pick("floor"),
        "pitch": pick("pitch"),
        "start": pick("start"),
    }


def _background(cam: _Camera, road: _Road, rows, h: int, w: int):
    """Ground, two rows of facades and sky, as per-pixel colour, label and depth.

    Each column sees, top to bottom, sky, the back facade, the front facade and the ground,
    each a range of rows (a vertical plane and the ground plane both project to intervals),
    so every layer is a comparison of the row with per-column bounds. Each pixel then gets a
    surface id indexing small tables of colour, class and texture. (Masks combine by
    arithmetic rather than np.where, and colour is planar: both several times faster.)
    """
    front_rows, back_rows = rows
    x = np.arange(w, dtype=np.float32) + 0.5
    y = np.arange(h, dtype=np.float32) + 0.5
    u, v = (x - cam.cx) / cam.f, (y - cam.cy) / cam.f
    c, sn = float(np.cos(cam.yaw)), float(np.sin(cam.yaw))
    a, b = u * c - sn, u * sn + c  # (W,) lateral and forward metres per metre of depth
    vv = v[:, None]  # (H, 1)
    back, front = _columns(cam, a, b, back_rows), _columns(cam, a, b, front_rows)
    hgt_f = cam.hc - front["t"][None, :] * vv  # (H, W) height where the ray meets the plane
    hit_f = (hgt_f >= 0) & (hgt_f <= front["top"][None, :])
    hgt_b = cam.hc - back["t"][None, :] * vv
    hit_b = (hgt_b >= 0) & (hgt_b <= back["top"][None, :]) & ~hit_f
    ground = (vv > 0) & ~hit_f
    tg = (cam.hc / np.maximum(v, 1e-9) * (v > 0)).astype(np.float32)  # (H,) ground depth
    finite = lambda t: np.where(np.isfinite(t), t, 0).astype(np.float32)  # noqa: E731
    depth = ground * tg[:, None] + hit_f * finite(front["t"]) + hit_b * finite(back["t"])
    d = depth * a[None, :]  # (H, W) metres right of the camera (0 in the sky)
    s = depth * b[None, :]  # (H, W) metres ahead
    hgt = cam.hc - depth * vv  # (H, W) metres above the ground

    # Surface ids: 0..W-1 back facade of column x, W..2W-1 front facade, then the rest.
    sky_id, road_id, walk_id, curb_id, white_id, yellow_id, glass_id = range(2 * w, 2 * w + 7)
    col = np.arange(w, dtype=np.int32)[None, :]
    on_road = (d >= road.left) & (d <= road.right)
    curb = ~on_road & (d > road.left - 0.25) & (d < road.right + 0.25)
    i32 = np.int32  # ids stay int32: half the memory traffic of NumPy's default int64
    gid = i32(walk_id) + on_road * i32(road_id - walk_id) + curb * i32(curb_id - walk_id)
    half = np.maximum(road.line_width / 2, 0.55 * depth / cam.f)  # never under a pixel
    dash_pos = (s + road.phase) / road.period
    dashed_on = dash_pos - np.floor(dash_pos) < road.dash / road.period
    for d0, style, yellow in road.lines:
        for off in (-0.12, 0.12) if style == "double" else (0.0,):
            on = np.abs(d - (d0 + off)) < half
            if style == "dashed":
                on &= dashed_on
            gid += on * (i32(yellow_id if yellow else white_id) - gid)
    sid = (
        i32(sky_id) + hit_b * (col - sky_id) + hit_f * (w + col - sky_id) + ground * (gid - sky_id)
    )

    # Windows: a grid on every floor above the ground floor, shop windows on the ground floor.
    facade = hit_f | hit_b
    layer = col + i32(w) * hit_f  # (H, W) index into [back columns, front columns]
    cols = lambda key: np.concatenate([back[key], front[key]])[layer]  # noqa: E731
    floor, pitch = cols("floor"), cols("pitch")
    along = s - cols("start")
    level = np.floor(hgt / floor)  # np.divmod is 5x slower than this
    fy = hgt - level * floor
    bay = along / pitch
    fx = bay - np.floor(bay)
    bay -= fx
    upper = (hgt > floor) & (hgt < cols("top") - 1.0) & (fy > 0.9) & (fy < 2.2)
    shop = (hgt > 0.4) & (hgt < 2.4)
    kind = cols("kind")
    win = facade & (kind == BUILDING) & (fx > 0.22) & (fx < 0.78) & (upper | shop)
    sid += win * (i32(glass_id) - sid)
    lit = np.abs(np.sin((level * 31.7 + bay * 7.3 + cols("start")) * 12.9898)) * 43758.5
    windows = (win * (lit - np.floor(lit))).astype(np.float32)  # a random number per window

    colors = np.concatenate(
        [
            back["color"],
            front["color"],
            np.zeros((1, 3)),
            [road.colors[k] for k in ("road", "walk", "curb", "white", "yellow")],
            [[0.17, 0.21, 0.27]],
        ]
    ).T.astype(np.float32)  # (3, N)
    classes = np.concatenate(
        [back["kind"], front["kind"], [SKY, ROAD, SIDEWALK, SIDEWALK, LANE, LANE, BUILDING]]
    ).astype(np.uint8)
    textures = np.concatenate(
        [back["tex"], front["tex"], [FLAT, ASPHALT, BRICK, ASPHALT, ASPHALT, ASPHALT, FLAT]]
    ).astype(np.int32)
    facade_k = lambda t: np.where(t == GRASS, 90.0, np.where(t == BRICK, 45.0, 150.0))  # noqa: E731
    texels = np.concatenate(
        [facade_k(back["tex"]), facade_k(front["tex"]), [0, 250, 40, 250, 250, 250, 0]]
    ).astype(np.float32)  # texels per metre
    label = classes[sid]
    k = texels[sid]
    lateral = d + facade * (hgt - d)  # facades are textured by height, the ground by d
    light = _sample(textures[sid], s * k, lateral * k, k * depth / cam.f)
    light *= 1.0 - facade * (0.25 - 0.25 * np.clip(hgt / 6.0, 0, 1))  # darker low down
    planar = np.take(colors, sid, axis=1) * light  # (3, H, W)
    color = cv2.merge(list(planar))  # (H, W, 3)
    depth[label == SKY] = np.inf
    return _Canvas(color, label, depth, windows, np.zeros((h, w), np.float32)), (d, s)


# ---------------------------------------------------------------- things on the ground
def _draw(canvas: _Canvas, cam: _Camera, cls: int, color, d, s, y) -> np.ndarray:
    """Fill the polygon of road points (d, s, y) with a class, a colour and its depth (the
    nearest corner's); return its pixel corners (N, 2). cv2 fills at 1/16 pixel precision."""
    px, py, z = cam.project(np.asarray(d, float), np.asarray(s, float), np.asarray(y, float))
    pts = np.empty((len(px), 2))
    pts[:, 0], pts[:, 1] = px, py
    poly = [np.round(pts * 16).astype(np.int32)]
    cv2.fillPoly(canvas.label, poly, int(cls), cv2.LINE_8, 4)
    cv2.fillPoly(canvas.color, poly, tuple(float(c) for c in color), cv2.LINE_8, 4)
    cv2.fillPoly(canvas.depth, poly, float(z.min()), cv2.LINE_8, 4)
    return pts


def _shadow(canvas: _Canvas, cam: _Camera, ground, d0, d1, s0, s1, strength=0.6) -> None:
    """Darken the ground, and only the ground, under the road rectangle (d0..d1, s0..s1),
    softly at its edges: the contact shadow under a car or a person."""
    px, py, _ = cam.project(np.array([d0, d1, d1, d0]), np.array([s0, s0, s1, s1]), np.zeros(4))
    h, w = canvas.label.shape
    x0, x1 = int(max(px.min(), 0)), int(min(px.max() + 1, w))
    y0, y1 = int(max(py.min(), 0)), int(min(py.max() + 1, h))
    if x0 >= x1 or y0 >= y1:
        return
    dd, ss = ground[0][y0:y1, x0:x1], ground[1][y0:y1, x0:x1]
    across = np.clip(1.3 - np.abs(dd - (d0 + d1) / 2) / ((d1 - d0) / 2), 0, 1)
    along = np.clip(np.minimum(ss - s0, s1 - ss) / 0.6, 0, 1)
    lab = canvas.label[y0:y1, x0:x1]
    on_ground = (lab == ROAD) | (lab == SIDEWALK) | (lab == LANE)  # not a farther car
    canvas.color[y0:y1, x0:x1] *= (1 - strength * across * along * on_ground)[..., None]


def _car(canvas: _Canvas, cam: _Camera, ground, rng: np.random.Generator, d, s, oncoming):
    """A car as two boxes, body and cabin, seen from behind (or from the front when it comes
    towards us). Faces are drawn back to front: the side facing the camera, the lid and roof
    when the camera is above them, then the near face with its lights and plate."""
    wc, hcar, length = rng.uniform(1.7, 1.95), rng.uniform(1.4, 1.75), rng.uniform(3.9, 4.8)
    paint = _PAINT[rng.integers(0, len(_PAINT))] * rng.uniform(0.9, 1.05)
    glass = np.array([0.08, 0.1, 0.12]) + rng.uniform(0, 0.08)
    belt = hcar * rng.uniform(0.5, 0.6)  # where the windows start
    l_, r_ = d - wc / 2, d + wc / 2
    cl, cr = l_ + 0.12, r_ - 0.12  # the cabin is a little narrower
    sa, sb = s + length * (0.22 if oncoming else 0.18), s + length * (0.78 if oncoming else 0.72)

    def face(color, ds, ss, ys):
        return _draw(canvas, cam, CAR, color, ds, ss, ys)

    detail = cam.f * hcar / s >= 16  # under 16 px tall, wheels and plate are not drawn apart
    _shadow(canvas, cam, ground, l_ - 0.15, r_ + 0.15, s - 0.3, s + length + 0.3)
    side = l_ if l_ > 0 else (r_ if r_ < 0 else None)  # the side plane facing the camera
    if side is not None:
        low = 0.25 if detail else 0.0
        face(paint * 0.72, [side] * 4, [s, s + length, s + length, s], [low, low, belt, belt])
        cs = cl if side == l_ else cr
        face(glass * 0.9, [cs] * 4, [sa, sb, sb - 0.3, sa + 0.5], [belt, belt, hcar, hcar])
        ring = np.linspace(0, 2 * np.pi, 8, endpoint=False)
        for sw in (s + 0.8, s + length - 0.8) if detail else ():  # wheels
            face((0.04,) * 3, [side] * 8, sw + 0.36 * np.cos(ring), 0.36 + 0.36 * np.sin(ring))
    if cam.hc > belt:  # the boot (or bonnet) lid
        face(paint * 1.05, [l_, r_, r_, l_], [s, s, sa, sa], [belt] * 4)
    if cam.hc > hcar:  # the roof
        face(paint * 1.1, [cl, cr, cr, cl], [sa + 0.5, sa + 0.5, sb - 0.3, sb - 0.3], [hcar] * 4)
    face(
        paint, [cl, cr, cr - 0.1, cl + 0.1], [sa, sa, sa + 0.5, sa + 0.5], [belt, belt, hcar, hcar]
    )
    face(
        glass,  # the rear (or front) window inside its pillars
        [cl + 0.1, cr - 0.1, cr - 0.18, cl + 0.18],
        [sa + 0.03, sa + 0.03, sa + 0.43, sa + 0.43],
        [belt + 0.05, belt + 0.05, hcar - 0.06, hcar - 0.06],
    )
    if not detail:  # the near face down to the road, its lights
        face(paint * 0.92, [l_, r_, r_, l_], [s] * 4, [0.0, 0.0, belt, belt])
    else:
        for wl, wr in ((l_ + 0.05, l_ + 0.35), (r_ - 0.35, r_ - 0.05)):  # wheels under the body
            face((0.03,) * 3, [wl, wr, wr, wl], [s + 0.4] * 4, [0, 0, 0.3, 0.3])
        face(paint * 0.92, [l_, r_, r_, l_], [s] * 4, [0.22, 0.22, belt, belt])
        face((0.07, 0.07, 0.08), [l_, r_, r_, l_], [s] * 4, [0.22, 0.22, 0.42, 0.42])  # bumper
    lamp = (0.95, 0.92, 0.8) if oncoming else (0.7, 0.05, 0.04)
    for ll, lr in ((l_ + 0.06, l_ + 0.38), (r_ - 0.38, r_ - 0.06)):
        lo, hi = belt - 0.2, belt - 0.05
        q = face(lamp, [ll, lr, lr, ll], [s] * 4, [lo, lo, hi, hi])
        canvas.lights.append((q, (1.0, 0.95, 0.8) if oncoming else (1.0, 0.1, 0.05)))
    if not detail:
        return
    plate = [d - 0.26, d + 0.26, d + 0.26, d - 0.26]
    face((0.85, 0.85, 0.8), plate, [s] * 4, [0.45, 0.45, 0.56, 0.56])


def _person(canvas: _Canvas, cam: _Camera, ground, rng: np.random.Generator, d, s):
    """A walking pedestrian as a flat figure facing the camera: legs, arms, torso, head."""
    k = rng.uniform(1.55, 1.9) / 1.75  # scale of a 1.75 m figure
    shirt = rng.uniform(0.1, 0.85, 3)
    trousers = rng.uniform(0.05, 0.45, 3) * [1, 1, 1.3]
    skin = np.array([0.85, 0.65, 0.5]) * rng.uniform(0.45, 1.0)
    st = rng.uniform(-0.25, 0.25)  # stride
    _shadow(canvas, cam, ground, d - 0.35, d + 0.35, s - 0.3, s + 0.3, 0.45)

    def part(color, xs, ys):
        _draw(canvas, cam, PERSON, color, d + np.asarray(xs) * k, [s] * len(xs), np.asarray(ys) * k)

    ring = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    if cam.f * 1.75 * k / s < 20:  # under 20 px tall: legs, body and head, no limbs apart
        spread = 0.16 + abs(st) / 2
        part(trousers, [-0.16, 0.16, spread, -spread], [0.9, 0.9, 0, 0])
        part(shirt, [-0.2, 0.2, 0.24, 0.16, -0.16, -0.24], [0.83, 0.83, 1.42, 1.48, 1.48, 1.42])
        part(skin, 0.1 * np.cos(ring), 1.64 + 0.12 * np.sin(ring))
        return
    part(trousers, [-0.16, -0.02, -0.04 + st, -0.16 + st], [0.9, 0.9, 0, 0])
    part(trousers * 0.85, [0.02, 0.16, 0.16 - st, 0.04 - st], [0.9, 0.9, 0, 0])
    part(shirt * 0.8, [-0.24, -0.17, -0.12 - st / 2, -0.2 - st / 2], [1.42, 1.45, 0.85, 0.83])
    part(shirt * 0.8, [0.17, 0.24, 0.2 + st / 2, 0.12 + st / 2], [1.45, 1.42, 0.83, 0.85])
    part(shirt, [-0.18, 0.18, 0.2, 0.16, -0.16, -0.2], [0.85, 0.85, 1.4, 1.48, 1.48, 1.4])
    part(skin, [-0.045, 0.045, 0.045, -0.045], [1.45, 1.45, 1.55, 1.55])  # neck
    part(skin, 0.1 * np.cos(ring), 1.64 + 0.12 * np.sin(ring))  # head
    part(skin * 0.35, 0.105 * np.cos(ring[:6]), 1.66 + 0.11 * np.sin(ring[:6]))  # hair


def _pole(canvas: _Canvas, cam: _Camera, ground, rng: np.random.Generator, d, s, toward):
    """A street-light pole, its arm reaching `toward` (+1 right, -1 left) over the road."""
    hp, wp = rng.uniform(5.5, 9.0), rng.uniform(0.14, 0.24)
    grey = np.full(3, rng.uniform(0.3, 0.6))
    _draw(canvas, cam, POLE, grey, [d - wp / 2, d + wp / 2] * 2, [s] * 4, [0, 0, hp, hp])
    if rng.random() < 0.7:
        e = d + rng.uniform(1.0, 2.2) * toward
        _draw(canvas, cam, POLE, grey, [d, e, e, d], [s] * 4, [hp - 0.12, hp - 0.12, hp, hp])
        lamp = [hp - 0.2, hp - 0.2, hp - 0.05, hp - 0.05]
        q = _draw(
            canvas, cam, POLE, grey * 0.7, [e - 0.3, e + 0.3, e + 0.3, e - 0.3], [s] * 4, lamp
        )
        canvas.lights.append((q, (1.0, 0.85, 0.55)))


def _tree(canvas: _Canvas, cam: _Camera, ground, rng: np.random.Generator, d, s):
    """A street tree: a trunk and a leafy crown (textured afterwards, see `_leaves`)."""
    trunk_h, r = rng.uniform(2.0, 3.5), rng.uniform(1.4, 2.8)
    bark = np.array([0.3, 0.24, 0.18]) * rng.uniform(0.7, 1.1)
    top = trunk_h + r * 0.5
    q = _draw(
        canvas,
        cam,
        VEGETATION,
        bark,
        [d - 0.13, d + 0.13, d + 0.1, d - 0.1],
        [s] * 4,
        [0, 0, top, top],
    )
    cv2.fillPoly(canvas.leaf_scale, [np.round(q * 16).astype(np.int32)], 0.0, cv2.LINE_8, 4)
    ring = np.linspace(0, 2 * np.pi, 14, endpoint=False)
    rad = r * rng.uniform(0.75, 1.1, 14)
    green = np.array([0.2, 0.34, 0.1]) * rng.uniform(0.6, 1.2)
    crown = (d + rad * np.cos(ring), [s] * 14, trunk_h + r + 0.9 * rad * np.sin(ring))
    q = _draw(canvas, cam, VEGETATION, green, *crown)
    z = cam.project(np.array([d]), np.array([s]), np.zeros(1))[2][0]
    tpp = 120.0 * z / cam.f  # texels per pixel: leaves are 120 texels to the metre
    cv2.fillPoly(canvas.leaf_scale, [np.round(q * 16).astype(np.int32)], float(tpp), cv2.LINE_8, 4)


def _leaves(canvas: _Canvas) -> None:
    """Texture every tree crown still in view with the `grass` photograph, at each crown's
    own scale (its texels per pixel), in one pass over all of them."""
    ys, xs = np.nonzero((canvas.leaf_scale > 0) & (canvas.label == VEGETATION))
    if not len(ys):
        return
    tpp = canvas.leaf_scale[ys, xs]
    tv, tu = (ys * tpp).astype(np.int32), (xs * tpp).astype(np.int32)
    leaves = _sample(np.full(len(ys), GRASS, np.int32), tu, tv, tpp)
    lit = 0.75 + 0.35 * (np.sin(tv * 0.02) * 0.5 + 0.5)  # uneven light across the crowns
    canvas.color[ys, xs] *= (leaves * lit)[:, None]


def _things(canvas: _Canvas, cam: _Camera, road: _Road, ground, rng: np.random.Generator):
    """Cars in the lanes, pedestrians, poles and trees on the sidewalks, drawn far to near
    (painter's order), so a nearer thing hides a farther one. Each thing draws its details
    from its own generator, seeded here, so the list can be sorted before drawing."""
    todo = []  # (s, draw function, d, extra arguments, seed)

    def add(s, draw, d, *extra):
        todo.append((float(s), draw, d, extra, int(rng.integers(1 << 31))))

    for centre, oncoming in road.lanes:
        s = rng.uniform(7, 25)
        while s < 90:
            if rng.random() < 0.6:
                add(s, _car, centre + rng.uniform(-0.3, 0.3), oncoming)
            s += rng.uniform(8, 30)
    for side, inner, outer in ((-1, road.left, road.walk_left), (1, road.right, road.walk_right)):
        lo, hi = min(inner, outer) + 0.5, max(inner, outer) - 0.5
        for _ in range(int(rng.integers(0, 5))):
            add(rng.uniform(5, 60), _person, rng.uniform(lo, hi))
        first, spacing = rng.uniform(4, 20), rng.uniform(14, 35)
        for s in np.arange(first, 160, spacing):
            add(s, _pole, inner + side * 0.5, -side)
        if rng.random() < 0.6:
            first, spacing = rng.uniform(4, 15), rng.uniform(9, 25)
            for s in np.arange(first, 100, spacing):
                add(s, _tree, inner + side * rng.uniform(1.0, 1.5))
    if rng.random() < 0.3:  # someone crossing the road
        add(rng.uniform(8, 40), _person, rng.uniform(road.left + 0.5, road.right - 0.5))
    for s, draw, d, extra, seed in sorted(todo, key=lambda item: -item[0]):
        draw(canvas, cam, ground, np.random.default_rng(seed), d, s, *extra)
    _leaves(canvas)


# ---------------------------------------------------------------- light and weather
def _sky(rows: int, w: int, horizon: float, top, bottom, clouds: float, rng) -> list:
    """The sky above the horizon (its first `rows` rows) as three (rows, w) float32 planes:
    a vertical gradient from `bottom` at the horizon to `top`, with soft clouds covering
    about a `clouds` share of it."""
    y = (np.arange(rows, dtype=np.float32) + 0.5)[:, None]
    g = np.clip((horizon - y) / max(horizon, 1.0), 0, 1) ** 0.6  # (rows, 1)
    blobs = cv2.resize(
        rng.random((3, 8), dtype=np.float32), (w, rows), interpolation=cv2.INTER_CUBIC
    )
    cover = np.clip((blobs - (1 - clouds)) * 3, 0, 0.6)  # (rows, w)
    return [(b + (t - b) * g) * (1 - cover) + cover * 0.9 for t, b in zip(top, bottom, strict=True)]


def _rain(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(h, w) float32 streaks of falling rain, slanted, blurred by the exposure."""
    layer = np.zeros((h, w), np.float32)
    n = h * w // 400
    length = max(3.0, h / 28)
    x0, y0 = rng.uniform(-w * 0.1, w, n), rng.uniform(-length, h, n)
    slant = rng.uniform(-0.25, 0.1)
    for level, part in zip((0.25, 0.45, 0.7), np.array_split(np.arange(n), 3), strict=True):
        ends = [x0[part], y0[part], x0[part] + slant * length, y0[part] + length]
        pts = np.round(np.stack(ends, 1).reshape(-1, 2, 2) * 16).astype(np.int32)
        cv2.polylines(layer, list(pts), False, level, 1, cv2.LINE_AA, 4)
    return cv2.blur(layer, (2, 2))


def _weather(canvas: _Canvas, cam: _Camera, condition: str, rng: np.random.Generator) -> np.ndarray:
    """Light the scene, add the sky, haze or fog, rain, blur and noise; return uint8 RGB.

    Nothing here changes a label: every effect is on the image only. The work is done on
    the three colour planes separately (same-shape arithmetic is several times faster in
    NumPy than broadcasting a (H, W) factor over (H, W, 3)).
    """
    h, w = canvas.label.shape
    label = canvas.label
    dusk = condition == "shifted"
    rows = int(min(h, np.ceil(cam.cy) + 1))  # no sky below the horizon
    at = (rows, w, cam.cy)
    if dusk:  # low sun behind clouds: orange horizon, dark blue top, fog, wet road, rain
        sky = _sky(*at, (0.16, 0.18, 0.34), (0.95, 0.55, 0.35), rng.uniform(0.3, 0.8), rng)
        gain, tint = rng.uniform(0.4, 0.6), (0.9, 0.85, 1.05)
        fog, visibility = (0.55, 0.5, 0.55), rng.uniform(25, 70)
    else:
        sky = _sky(*at, (0.3, 0.5, 0.85), (0.75, 0.85, 0.95), rng.uniform(0.0, 0.6), rng)
        gain, tint = rng.uniform(0.85, 1.2), tuple(rng.uniform(0.94, 1.06, 3).tolist())
        fog, visibility = (0.75, 0.8, 0.88), rng.uniform(300, 900)
    # Koschmieder's law: the scene fades into the fog colour with distance.
    with np.errstate(over="ignore"):
        trans = np.exp(canvas.depth * (-1 / visibility))
    sky_pix = (label[:rows] == SKY).astype(np.float32)
    sky_keep = 1 - sky_pix * (0.5 if dusk else 1.0)  # dusk: the fog veils the sky too
    sky_planes = [p * (sky_pix * (0.5 if dusk else 1.0)) for p in sky]
    planes = cv2.split(canvas.color)
    if dusk:
        wet = ((label == ROAD) | (label == LANE)).astype(np.float32)
        below = (np.arange(h, dtype=np.float32) + 0.5 - cam.cy)[:, None] / (h - cam.cy)
        sheen = np.clip(1 - below, 0, 1) ** 2 * 0.35 * wet  # wet asphalt mirrors the sky
        dim = 1 - 0.4 * wet  # and is darker
        lit = (canvas.windows > 0.75).astype(np.float32)  # a quarter of the windows
        glow = np.zeros((h, w, 3), np.float32)
        for q, col in canvas.lights:
            cv2.fillPoly(glow, [np.round(q * 16).astype(np.int32)], col, cv2.LINE_8, 4)
        glow = glow * 0.8 + cv2.GaussianBlur(glow, (0, 0), 3) * 1.5
        streak = cv2.blur(glow, (1, max(3, h // 10)), anchor=(0, 0))  # reflections on the road
        glows, streaks = cv2.split(glow), cv2.split(streak)
        rain = _rain(h, w, rng) * 0.35
    out = []
    for k, p in enumerate(planes):
        p = p * (gain * tint[k])
        if dusk:
            p = p * dim + sheen * fog[k]
            p += lit * ((0.7, 0.55, 0.3)[k] - p)
            p += glows[k] + streaks[k] * wet
        p = p * trans + (fog[k] * gain) * (1 - trans)
        p[:rows] = p[:rows] * sky_keep + sky_planes[k]
        if dusk:
            p += rain
        out.append(p)
    img = cv2.merge(out)
    blur = int(rng.integers(2, 6)) if dusk else int(rng.integers(0, 3))
    if blur > 1:  # motion blur along the rows: the car's own movement and shake
        img = cv2.blur(img, (blur, 1))
    noise = _noise_bank(h, w)
    oy, ox = rng.integers(0, h), rng.integers(0, w)
    sigma = rng.uniform(0.02, 0.04) if dusk else rng.uniform(0.005, 0.015)  # dark: more noise
    img = cv2.scaleAdd(noise[oy : oy + h, ox : ox + w], sigma, img)
    return cv2.convertScaleAbs(np.maximum(img, 0, out=img), alpha=255.0)


# ---------------------------------------------------------------- public
def render_driving_scene(
    *, height: int, width: int, seed: int, index: int, condition: str = "clear"
) -> tuple[np.ndarray, np.ndarray]:
    """Scene `index` of the stream `seed`: image uint8 (H, W, 3) RGB, mask uint8 (H, W).

    The geometry comes from `default_rng([seed, index])` and the weather from
    `default_rng([seed, index, 1 or 2])`, so both conditions share every label.
    """
    if condition not in CONDITIONS:
        raise ConfigError(f"condition must be one of {CONDITIONS}, got {condition!r}")
    if height < 16 or width < 16:
        raise ConfigError(f"driving scenes need at least 16x16 pixels, got {height}x{width}")
    rng = np.random.default_rng([seed, index])
    cam = _camera(rng, height, width)
    road = _road(rng, cam, height, width)
    front = (_facades(rng, road.walk_left, False), _facades(rng, road.walk_right, False))
    back_gap = rng.uniform(6, 20, 2)
    back = (
        _facades(rng, road.walk_left - back_gap[0], True),
        _facades(rng, road.walk_right + back_gap[1], True),
    )
    canvas, ground = _background(cam, road, (front, back), height, width)
    _things(canvas, cam, road, ground, rng)
    weather = np.random.default_rng([seed, index, 1 + CONDITIONS.index(condition)])
    image = _weather(canvas, cam, condition, weather)
    return image, canvas.label


def render_driving_scenes(
    count: int, *, height: int, width: int, seed: int, condition: str = "clear"
) -> tuple[np.ndarray, np.ndarray]:
    """Scenes 0..count-1 of the stream `seed`.

    Returns images uint8 (count, height, width, 3) RGB and masks uint8 (count, height,
    width) of train ids (indices into CLASSES). condition: 'clear' (day, light haze) or
    'shifted' (dusk, fog, rain, wet road): the same geometry, so the same masks, for the
    same seed. Scene i is the same whatever `count` is. About 45 scenes/s at 256x512 on one
    busy core (clear; 35 shifted), so a split is rendered rather than stored.
    """
    images = np.empty((count, height, width, 3), np.uint8)
    masks = np.empty((count, height, width), np.uint8)
    for i in range(count):
        images[i], masks[i] = render_driving_scene(
            height=height, width=width, seed=seed, index=i, condition=condition
        )
    return images, masks


def colorize(masks: np.ndarray) -> np.ndarray:
    """Train-id masks (..., H, W) as Cityscapes colours (..., H, W, 3) uint8; IGNORE black."""
    table = np.zeros((256, 3), np.uint8)
    table[: len(CLASSES)] = [c.color for c in CLASSES]
    return table[masks]
