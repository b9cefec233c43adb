# Over 450 lines for one idea: the synthetic COCO and PoseTrack18 sets share one renderer, one layout and one annotation writer.
"""Synthetic COCO-format images and PoseTrack18-format videos: the project's default data.

`generate(out_dir, images=..., clips=..., frames=..., seed=...)` writes

    out_dir/coco/annotations/person_keypoints_{train,val}.json
    out_dir/coco/annotations/person_detections_val.json   (jittered boxes, COCO results format)
    out_dir/coco/images/{train,val}/NNNNNNNNNNNN.jpg
    out_dir/posetrack/annotations/{train,val}/<video>.json (one file per video)
    out_dir/posetrack/images/{train,val}/<video>/NNNNNN.jpg

which `load_coco` and `PoseTrackData` read unchanged (COCO image root
`out_dir/coco/images/<split>`, PoseTrack image root `out_dir/posetrack`).

Images: several articulated people (see `synthetic_person`) of varied appearance and
scale on textured backgrounds with clutter, partly covered by occluders and by each
other. Videos: people walk (smooth joint motion) while the camera pans, some frames
are motion-blurred, and one person per video passes behind a pillar for a few frames
- the joints stay labelled there (COCO/PoseTrack label occluded joints too), so a
model that uses earlier frames can find them. Each annotation also carries a
non-standard `occluded` list (1 = joint hidden behind something) that
`vipnas_tf.evaluation.occlusion` uses to score exactly those joints. Some videos hold
an unannotated far-away person covered by an ignore region.

Deterministic: every image and video is drawn from a generator seeded with
(seed, kind, index), so the output depends only on the arguments, not on the number of
worker processes.
"""
import dataclasses
import glob
import json
import logging
import multiprocessing
import os
import time

import cv2
import numpy as np
from tqdm import tqdm

from vipnas_tf.codecs.dataset_info import COCO_KEYPOINT_NAMES, POSETRACK18_KEYPOINT_NAMES, SKELETON
from vipnas_tf.data import synthetic_person as sp
from vipnas_tf.utils.io import write_json

log = logging.getLogger(__name__)

COCO_SIZES = ((320, 240), (384, 288), (448, 336), (480, 360), (240, 320), (288, 384))
VIDEO_SIZE = (480, 270)  # (width, height), 16:9 like PoseTrack
JPEG_QUALITY = 90
# Points of the 19-point layout that fill the 17 PoseTrack18 slots (-1: ear slots,
# always unlabelled in PoseTrack18).
POSETRACK_FROM_POINTS = (0, sp.HEAD_BOTTOM, sp.HEAD_TOP, -1, -1) + tuple(range(5, 17))


def _categories(names):
    return [{"supercategory": "person", "id": 1, "name": "person", "keypoints": list(names),
             "skeleton": [[a + 1, b + 1] for a, b in SKELETON]}]


# ---------------------------------------------------------------------------- scene
def make_background(rng, height, width):
    """A textured BGR background [height, width, 3]: colour noise, pattern, clutter."""
    small = rng.integers(30, 230, size=(int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3))
    img = cv2.resize(small.astype(np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
    img = img.astype(np.float32)
    kind = rng.integers(0, 4)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 0:  # stripes
        ang = rng.uniform(0, np.pi)
        freq = rng.uniform(0.03, 0.2)
        img += rng.uniform(10, 35) * np.sin(freq * (np.cos(ang) * xx + np.sin(ang) * yy))[..., None]
    elif kind == 1:  # checker
        cell = int(rng.integers(8, 40))
        img += rng.uniform(10, 30) * ((((xx // cell) + (yy // cell)) % 2) * 2 - 1)[..., None]
    elif kind == 2:  # grain
        grain = rng.normal(0, rng.uniform(6, 16), size=(height // 2 + 1, width // 2 + 1, 3))
        img += cv2.resize(grain.astype(np.float32), (width, height))
    img = np.clip(img, 0, 255).astype(np.uint8)
    # Clutter: rectangles, circles and lines, some of them limb-like distractors.
    for _ in range(int(rng.integers(2, 7))):
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        shape = rng.integers(0, 3)
        if shape == 0:
            w, h = int(rng.integers(10, width // 3)), int(rng.integers(10, height // 3))
            cv2.rectangle(img, (x, y), (x + w, y + h), color, -1)
        elif shape == 1:
            cv2.circle(img, (x, y), int(rng.integers(5, 40)), color, -1, cv2.LINE_AA)
        else:
            x2, y2 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(img, (x, y), (x2, y2), color, int(rng.integers(2, 8)), cv2.LINE_AA)
    return img


def _texture_color(rng):
    return np.array([int(c) for c in rng.integers(20, 235, 3)], np.float32)


def draw_occluder(img, idmap, rng, polygon, occluder_id=255):
    """Fills a polygon [P, 2] with a striped texture in `img` and `occluder_id` in idmap."""
    poly = np.round(np.asarray(polygon) * 4).astype(np.int32)
    mask = np.zeros(idmap.shape, np.uint8)
    cv2.fillPoly(mask, [poly], 1, cv2.LINE_8, shift=2)
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return
    base = _texture_color(rng)
    stripe = rng.uniform(15, 50) * np.sign(np.sin(xs * rng.uniform(0.2, 0.6)
                                                   + ys * rng.uniform(-0.1, 0.1)))
    img[ys, xs] = np.clip(base[None] + stripe[:, None], 0, 255).astype(np.uint8)
    idmap[ys, xs] = occluder_id


def _labels(points, idmap, pid, height, width):
    """COCO-style visibility for 19 points: 2 visible, 1 hidden (occluded), 0 outside."""
    xi = np.round(points[:, 0]).astype(int)
    yi = np.round(points[:, 1]).astype(int)
    inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
    owner = np.zeros(len(points), np.int64)
    owner[inside] = idmap[yi[inside], xi[inside]]
    occluded = inside & (owner != pid) & (owner != 0)
    vis = np.where(inside, np.where(occluded, 1, 2), 0)
    return vis, occluded


@dataclasses.dataclass
class _Person:
    pid: int
    style: sp.PersonStyle
    torso_len: float
    points: np.ndarray
    annotated: bool = True


def _blur(img, rng, direction, length):
    """Linear motion blur of `length` pixels along `direction` (radians)."""
    length = int(round(length))
    if length < 2:
        return img
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2.0
    dx, dy = np.cos(direction) * c, np.sin(direction) * c
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))),
             1.0, 1, cv2.LINE_AA)
    k /= max(k.sum(), 1e-6)
    return cv2.filter2D(img, -1, k)


# ---------------------------------------------------------------------------- COCO
def render_coco_image(rng):
    """One COCO-style scene: (BGR image, list of per-person dicts)."""
    width, height = COCO_SIZES[int(rng.integers(0, len(COCO_SIZES)))]
    img = make_background(rng, height, width)
    idmap = np.zeros((height, width), np.uint8)
    n_people = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.35, 0.2, 0.15]))
    persons = []
    for pid in range(1, n_people + 1):
        style = sp.sample_style(rng)
        person_h = height * rng.uniform(0.3, 0.95)
        torso = person_h / 3.2
        px = rng.uniform(0.1, 0.9) * width
        # Mostly inside, sometimes cut by the image border.
        py = rng.uniform(1.5 * torso, height - 1.4 * torso) if rng.random() < 0.85 \
            else rng.uniform(0.8 * torso, height)
        points = sp.build_points((px, py), torso, style, sp.sample_angles(rng))
        persons.append(_Person(pid, style, torso, points))
    # Farther people (higher feet) first, so nearer ones cover them.
    for person in sorted(persons, key=lambda p: p.points[15:17, 1].max()):
        sp.draw_person(img, idmap, person.pid, person.points, person.style, person.torso_len)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):
            target = persons[int(rng.integers(0, len(persons)))]
            anchor = target.points[int(rng.integers(5, 17))]
            w = target.torso_len * rng.uniform(0.5, 1.4)
            h = target.torso_len * rng.uniform(0.5, 1.6)
            x0, y0 = anchor - np.array([w, h]) * rng.uniform(0.2, 0.8, 2)
            if rng.random() < 0.5:
                poly = np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]])
            else:
                t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
                poly = np.stack([x0 + w / 2 * (1 + np.cos(t)), y0 + h / 2 * (1 + np.sin(t))], 1)
            draw_occluder(img, idmap, rng, poly)
    out = []
    for person in persons:
        vis, occluded = _labels(person.points, idmap, person.pid, height, width)
        if person.style.facing_front is False:
            vis[0:3] = 0  # face not visible from behind: COCO leaves it unlabelled
        occluded = occluded & (vis > 0)
        x1, y1, x2, y2 = sp.person_extent(person.points, person.style, person.torso_len)
        x1, y1 = max(x1, 0.0), max(y1, 0.0)
        x2, y2 = min(x2, width - 1.0), min(y2, height - 1.0)
        out.append({"points": person.points, "vis": vis, "occluded": occluded,
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    "area": float((idmap == person.pid).sum())})
    return img, out


def _coco_task(args):
    seed, split, index, image_id, image_dir = args
    rng = np.random.default_rng([seed, 1, index])
    img, persons = render_coco_image(rng)
    name = f"{image_id:012d}.jpg"
    cv2.imwrite(os.path.join(image_dir, name), img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    image = {"id": image_id, "file_name": name, "height": img.shape[0], "width": img.shape[1]}
    anns = []
    for p in persons:
        kp = np.zeros((17, 3), np.float64)
        vis = p["vis"][:17]
        kp[:, :2] = np.where(vis[:, None] > 0, np.round(p["points"][:17], 2), 0)
        kp[:, 2] = vis
        num = int((vis > 0).sum())
        bx, by, bw, bh = p["bbox"]
        anns.append({
            "image_id": image_id, "category_id": 1, "iscrowd": 0, "num_keypoints": num,
            "keypoints": [float(v) if i % 3 != 2 else int(v) for i, v in enumerate(kp.ravel())],
            "bbox": [round(v, 2) for v in p["bbox"]], "area": p["area"],
            "segmentation": [[bx, by, bx + bw, by, bx + bw, by + bh, bx, by + bh]],
            "occluded": [int(v) for v in p["occluded"][:17]],
        })
    return image, anns


# ---------------------------------------------------------------------------- video
def _video_scene(rng, num_frames):
    """Plans a video: people with trajectories and motions, a pillar, a camera path."""
    width, height = VIDEO_SIZE
    margin = 48
    world_w, world_h = width + 2 * margin, height + 2 * margin
    background = make_background(rng, world_h, world_w)
    n_people = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
    people = []
    for i in range(n_people):
        style = sp.sample_style(rng)
        torso = height * rng.uniform(0.45, 0.85) / 3.2
        people.append({"style": style, "torso": torso, "motion": sp.sample_motion(rng),
                       "y": margin + rng.uniform(1.6 * torso, height - 1.5 * torso),
                       "grow": rng.uniform(-0.01, 0.01)})
    # Person 0 walks behind a pillar around the middle of the clip.
    lead = people[0]
    body_w = 2 * lead["style"].shoulder_half * lead["torso"] + 0.4 * lead["torso"]
    pillar_w = body_w * rng.uniform(1.0, 1.6)
    speed = (pillar_w + body_w) / rng.uniform(2.5, 4.0) * rng.choice([-1, 1])
    t_mid = num_frames * rng.uniform(0.4, 0.65)
    pillar_x = margin + rng.uniform(0.3, 0.7) * width
    lead["x0"] = pillar_x - speed * t_mid
    lead["vx"] = speed
    for p in people[1:]:
        p["x0"] = margin + rng.uniform(0.1, 0.9) * width
        p["vx"] = rng.uniform(-3, 3)
    pillar_top = rng.uniform(0, 0.3) * world_h
    pillar = np.array([[pillar_x - pillar_w / 2, pillar_top], [pillar_x + pillar_w / 2, pillar_top],
                       [pillar_x + pillar_w / 2, world_h], [pillar_x - pillar_w / 2, world_h]])
    cam = {"x0": rng.uniform(-0.5, 0.5) * margin, "y0": rng.uniform(-0.3, 0.3) * margin,
           "vx": rng.uniform(-3, 3), "amp": rng.uniform(0, 10),
           "omega": rng.uniform(0.2, 0.6), "phase": rng.uniform(0, 2 * np.pi)}
    extra = None
    if rng.random() < 0.3:  # an unannotated far person under an ignore region
        style = sp.sample_style(rng)
        extra = {"style": style, "torso": height * 0.18 / 3.2,
                 "x": margin + rng.uniform(0.1, 0.9) * width,
                 "y": margin + rng.uniform(0.25, 0.5) * height,
                 "motion": sp.sample_motion(rng)}
    return {"background": background, "people": people, "pillar": pillar, "cam": cam,
            "margin": margin, "extra": extra, "pillar_seed": int(rng.integers(1 << 31))}


def _camera(cam, margin, t):
    """Camera offset (x, y) of the image inside the world canvas at frame t."""
    x = margin + cam["x0"] + cam["vx"] * t + cam["amp"] * np.sin(cam["omega"] * t + cam["phase"])
    y = margin + cam["y0"] + 0.5 * cam["amp"] * np.sin(0.7 * cam["omega"] * t)
    return np.clip(np.array([x, y]), 0, 2 * margin)


def render_video_frame(scene, t, rng):
    """Frame t of a planned video: (BGR image, per-person dicts, ignore polygons)."""
    width, height = VIDEO_SIZE
    cam = _camera(scene["cam"], scene["margin"], t)
    shift = np.float32([[1, 0, -cam[0]], [0, 1, -cam[1]]])
    # Sub-pixel camera pan of the world background.
    img = cv2.warpAffine(scene["background"], shift, (width, height), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
    idmap = np.zeros((height, width), np.uint8)
    ignore = []
    extra = scene["extra"]
    if extra is not None:
        pts = sp.build_points((extra["x"] - cam[0], extra["y"] - cam[1]), extra["torso"],
                              extra["style"], extra["motion"].angles(t))
        sp.draw_person(img, idmap, 200, pts, extra["style"], extra["torso"])
        x1, y1, x2, y2 = sp.person_extent(pts, extra["style"], extra["torso"])
        pad = 4
        ignore.append(np.array([[x1 - pad, y1 - pad], [x2 + pad, y1 - pad],
                                [x2 + pad, y2 + pad], [x1 - pad, y2 + pad]]))
    persons = []
    for pid, p in enumerate(scene["people"], start=1):
        torso = p["torso"] * (1 + p["grow"] * t)
        x = p["x0"] + p["vx"] * t - cam[0]
        y = p["y"] + 0.03 * torso * np.sin(2 * p["motion"].omega * t) - cam[1]
        pts = sp.build_points((x, y), torso, p["style"], p["motion"].angles(t))
        persons.append(_Person(pid, p["style"], torso, pts))
    for person in sorted(persons, key=lambda q: q.points[15:17, 1].max()):
        sp.draw_person(img, idmap, person.pid, person.points, person.style, person.torso_len)
    pillar_rng = np.random.default_rng(scene["pillar_seed"])  # same texture every frame
    draw_occluder(img, idmap, pillar_rng, scene["pillar"] - cam[None])
    # Motion blur along the camera's motion on some frames.
    velocity = _camera(scene["cam"], scene["margin"], t + 0.5) - _camera(scene["cam"], scene["margin"], t - 0.5)
    if rng.random() < 0.5:
        length = np.linalg.norm(velocity) * rng.uniform(1.0, 2.0) + rng.uniform(0, 4)
        img = _blur(img, rng, np.arctan2(velocity[1], velocity[0]), length)
    out = []
    for person in persons:
        vis, occluded = _labels(person.points, idmap, person.pid, height, width)
        x1, y1, x2, y2 = sp.person_extent(person.points, person.style, person.torso_len)
        center, radius = sp.head_geometry(person.points, person.style, person.torso_len)
        out.append({"pid": person.pid, "points": person.points, "vis": vis,
                    "occluded": occluded, "facing_front": person.style.facing_front,
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    "head": [float(center[0] - radius), float(center[1] - radius),
                             float(2 * radius), float(2 * radius)]})
    return img, out, ignore


def _video_task(args):
    seed, split, index, vid_num, num_frames, root = args
    rng = np.random.default_rng([seed, 2, index])
    scene = _video_scene(rng, num_frames)
    name = f"{vid_num:06d}_synth"
    rel_dir = f"images/{split}/{name}"
    os.makedirs(os.path.join(root, rel_dir), exist_ok=True)
    images, anns = [], []
    width, height = VIDEO_SIZE
    for t in range(num_frames):
        img, persons, ignore = render_video_frame(scene, t, rng)
        file_name = f"{rel_dir}/{t:06d}.jpg"
        cv2.imwrite(os.path.join(root, file_name), img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        image_id = 10000000000 + vid_num * 10000 + t
        images.append({
            "has_no_densepose": True, "is_labeled": True, "file_name": file_name,
            "nframes": num_frames, "frame_id": image_id, "vid_id": f"{vid_num:06d}",
            "id": image_id, "width": width, "height": height,
            "ignore_regions_x": [[round(float(v), 1) for v in poly[:, 0]] for poly in ignore],
            "ignore_regions_y": [[round(float(v), 1) for v in poly[:, 1]] for poly in ignore],
        })
        for person in persons:
            kp = np.zeros((17, 3))
            occ = np.zeros(17, np.int64)
            for slot, src in enumerate(POSETRACK_FROM_POINTS):
                if src < 0:
                    continue
                v = person["vis"][src]
                if src == 0 and not person["facing_front"]:
                    v = 0  # the nose is not labelled from behind
                if v > 0:
                    # PoseTrack18 marks every labelled joint with 1.
                    kp[slot] = [round(float(person["points"][src, 0]), 2),
                                round(float(person["points"][src, 1]), 2), 1]
                    occ[slot] = int(person["occluded"][src])
            num = int((kp[:, 2] > 0).sum())
            if num == 0:
                continue
            anns.append({
                "bbox_head": [round(v, 2) for v in person["head"]],
                "keypoints": [float(v) for v in kp.ravel()],
                "track_id": person["pid"] - 1, "image_id": image_id,
                "bbox": [round(v, 2) for v in person["bbox"]], "scores": [],
                "category_id": 1, "id": image_id * 100 + person["pid"] - 1,
                "iscrowd": False, "num_keypoints": num,
                "occluded": [int(v) for v in occ],
            })
    write_json(os.path.join(root, "annotations", split, f"{name}.json"),
               {"categories": _categories(POSETRACK18_KEYPOINT_NAMES), "images": images,
                "annotations": anns}, indent=None)
    return len(images), len(anns)


# ---------------------------------------------------------------------------- layout
def synthetic_paths(out_dir):
    """Where `generate` writes under `out_dir` (the one place that knows it).

    Returns:
      {"coco": {...}, "posetrack": {...}}, each with the `train_ann`, `train_images`,
      `val_ann` and `val_images` of a `TrainConfig` on that set; "coco" also holds
      `val_detections` (the jittered val boxes, COCO results format), "posetrack"
      `val_clip_images` (the folder of the val videos' frame folders, one per video,
      named after its annotation file).
    """
    out_dir = os.fspath(out_dir)
    coco = os.path.join(out_dir, "coco")
    pt = os.path.join(out_dir, "posetrack")
    return {
        "coco": {"train_ann": os.path.join(coco, "annotations", "person_keypoints_train.json"),
                 "train_images": os.path.join(coco, "images", "train"),
                 "val_ann": os.path.join(coco, "annotations", "person_keypoints_val.json"),
                 "val_images": os.path.join(coco, "images", "val"),
                 "val_detections": os.path.join(coco, "annotations", "person_detections_val.json")},
        "posetrack": {"train_ann": os.path.join(pt, "annotations", "train"), "train_images": pt,
                      "val_ann": os.path.join(pt, "annotations", "val"), "val_images": pt,
                      "val_clip_images": os.path.join(pt, "images", "val")},
    }


def training_paths(out_dir, which):
    """The `train_ann` / `train_images` / `val_ann` / `val_images` of a run on the
    synthetic set `which` ("coco" | "posetrack") under `out_dir`."""
    paths = synthetic_paths(out_dir)
    if which not in paths:
        raise ValueError(f"synthetic set {which!r}: expected one of {sorted(paths)}")
    return {k: paths[which][k] for k in ("train_ann", "train_images", "val_ann", "val_images")}


def val_clips(out_dir):
    """(annotation file, frames folder) of every synthetic PoseTrack18 val video, sorted."""
    pt = synthetic_paths(out_dir)["posetrack"]
    return [(ann, os.path.join(pt["val_clip_images"], os.path.splitext(os.path.basename(ann))[0]))
            for ann in sorted(glob.glob(os.path.join(pt["val_ann"], "*.json")))]


# ---------------------------------------------------------------------------- driver
def _split_counts(n, val_fraction):
    if n <= 0:
        return 0, 0
    n_val = max(1, int(round(n * val_fraction))) if n > 1 else 0
    return n - n_val, n_val


def _run(tasks, fn, workers, desc, progress):
    if workers <= 1 or len(tasks) < 4:
        results = [fn(t) for t in tqdm(tasks, desc=desc, disable=not progress)]
        return results
    # "spawn": workers never inherit a TensorFlow runtime the caller may have started.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        chunk = max(1, len(tasks) // (workers * 8))
        return list(tqdm(pool.imap(fn, tasks, chunksize=chunk), total=len(tasks), desc=desc,
                         disable=not progress))


def generate(out_dir, images=2000, clips=100, frames=8, seed=0, val_fraction=0.1,
             workers=None, progress=True):
    """Writes the synthetic COCO image set and PoseTrack18 video set under `out_dir`.

    Args:
      out_dir: output folder (created); `coco/` and `posetrack/` are written inside.
      images: number of COCO-format images (train + val).
      clips: number of PoseTrack-format videos (train + val).
      frames: frames per video.
      seed: base seed; same arguments -> identical files.
      val_fraction: share of images and of videos put in the val split (at least 1).
      workers: worker processes (default: CPU count). Workers are *spawned*, so a
        calling script must guard its entry point (`if __name__ == "__main__":`);
        use workers=1 where that is not possible.
      progress: show tqdm progress bars.

    Returns:
      A summary dict: counts per split, persons, frames, seconds.
    """
    start = time.time()
    out_dir = os.fspath(out_dir)
    workers = workers or os.cpu_count() or 1
    summary = {"out": os.path.abspath(out_dir), "seed": seed}
    paths = synthetic_paths(out_dir)
    coco = paths["coco"]
    n_train, n_val = _split_counts(images, val_fraction)
    tasks, image_id = [], 1
    for split, count in (("train", n_train), ("val", n_val)):
        os.makedirs(coco[f"{split}_images"], exist_ok=True)
        for _ in range(count):
            tasks.append((seed, split, image_id - 1, image_id, coco[f"{split}_images"]))
            image_id += 1
    results = _run(tasks, _coco_task, workers, "coco images", progress)
    ann_id = 1
    for split in ("train", "val"):
        imgs, anns = [], []
        for task, (image, image_anns) in zip(tasks, results):
            if task[1] != split:
                continue
            imgs.append(image)
            for a in image_anns:
                a["id"] = ann_id
                ann_id += 1
                anns.append(a)
        if not imgs and split == "val" and n_val == 0:
            continue
        write_json(coco[f"{split}_ann"],
                   {"info": {"description": "vipnas-tf synthetic people", "seed": seed},
                    "licenses": [], "categories": _categories(COCO_KEYPOINT_NAMES),
                    "images": imgs, "annotations": anns}, indent=None)
        summary[f"coco_{split}_images"] = len(imgs)
        summary[f"coco_{split}_persons"] = len(anns)
        if split == "val":
            write_json(coco["val_detections"],
                       _fake_detections(anns, seed), indent=None)
    v_train, v_val = _split_counts(clips, val_fraction)
    pt_root = paths["posetrack"]["train_images"]
    tasks, vid = [], 1
    for split, count in (("train", v_train), ("val", v_val)):
        os.makedirs(paths["posetrack"][f"{split}_ann"], exist_ok=True)
        for _ in range(count):
            tasks.append((seed, split, vid - 1, vid, frames, pt_root))
            vid += 1
    results = _run(tasks, _video_task, workers, "videos", progress)
    for split in ("train", "val"):
        sel = [r for t, r in zip(tasks, results) if t[1] == split]
        summary[f"posetrack_{split}_videos"] = len(sel)
        summary[f"posetrack_{split}_frames"] = int(sum(r[0] for r in sel))
        summary[f"posetrack_{split}_persons"] = int(sum(r[1] for r in sel))
    summary["seconds"] = round(time.time() - start, 2)
    return summary


SUMMARY_FILE = "synthetic_summary.json"


def ensure(out_dir, images=2000, clips=100, frames=8, seed=0, workers=1, progress=True):
    """`generate` unless `out_dir` already holds a finished synthetic set; its summary.

    A set is finished when its summary file is there (`SUMMARY_FILE`, written last and
    atomically, or the quickstart's step marker `DONE.json`), so an interrupted
    generation is redone rather than half-used.
    """
    for name in (SUMMARY_FILE, "DONE.json"):
        marker = os.path.join(out_dir, name)
        if os.path.exists(marker):
            with open(marker, encoding="utf-8") as f:
                return json.load(f)
    log.info("generating synthetic data in %s", out_dir)
    summary = generate(out_dir, images=images, clips=clips, frames=frames, seed=seed,
                       workers=workers, progress=progress)
    write_json(os.path.join(out_dir, SUMMARY_FILE), summary)
    return summary


def _fake_detections(anns, seed):
    """Person 'detections' for the val split: ground-truth boxes jittered by ~5%."""
    rng = np.random.default_rng([seed, 3])
    dets = []
    for a in anns:
        x, y, w, h = a["bbox"]
        j = rng.normal(0, 0.05, 4)
        dets.append({"image_id": a["image_id"], "category_id": 1,
                     "bbox": [x + j[0] * w, y + j[1] * h, w * (1 + j[2]), h * (1 + j[3])],
                     "score": float(rng.uniform(0.5, 1.0))})
    return dets
