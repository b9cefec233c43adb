"""Articulated 2-D people for the synthetic data: skeleton, appearance, drawing.

A person is a 2-D kinematic tree (pelvis -> torso -> neck -> head; shoulders -> elbows
-> wrists; hips -> knees -> ankles) with limb lengths and joint angles drawn from
plausible ranges, and a walking motion (smooth sinusoids of the joint angles) for
videos. It is drawn with OpenCV primitives: a filled torso, limbs as thick strips with
one colour family per body part (upper arm, forearm, thigh, shin), a head with a face
when the person faces the camera.

Left and right: realism is secondary to learnability, so every limb is drawn as two
lengthwise halves in a bright and a dark shade, bright on the limb's left edge for
left limbs and on its right edge for right limbs (edges seen walking from the body
outwards). That cue is chiral: rotation keeps it and a mirror image turns a left
limb into a right one, which is exactly what flip augmentation (with the left/right
label swap) expects, so the labels stay learnable under flips.

Point layout used here (19 points): the 17 COCO slots (nose, eyes, ears, shoulders,
elbows, wrists, hips, knees, ankles) followed by head_bottom (17) and head_top (18),
from which both the COCO and the PoseTrack18 keypoint layouts are taken.
"""
import dataclasses

import cv2
import numpy as np

HEAD_BOTTOM, HEAD_TOP = 17, 18
NUM_POINTS = 19

# (proximal, distal, part) for the limbs; parts index PART_HUES.
LIMBS = (
    (5, 7, 0), (7, 9, 1), (6, 8, 0), (8, 10, 1),  # arms: upper arm, forearm
    (11, 13, 2), (13, 15, 3), (12, 14, 2), (14, 16, 3),  # legs: thigh, shin
)
LEFT_POINTS = (5, 7, 9, 11, 13, 15)
PART_HUES = (0, 30, 100, 140)  # OpenCV hue (0-180): red, yellow, green, blue-ish


@dataclasses.dataclass
class PersonStyle:
    """Appearance and proportions of one person (all lengths relative to torso = 1)."""

    facing_front: bool
    turn: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    shoulder_half: float
    hip_half: float
    head: float
    widths: np.ndarray  # [4] widths of upper arm, forearm, thigh, shin (x torso)
    part_colors: np.ndarray  # [4, 2, 3] bright/dark BGR per part
    torso_color: tuple
    skin_color: tuple
    hair_color: tuple
    shoe_color: tuple


def _hsv_to_bgr(h, s, v):
    px = np.uint8([[[int(h) % 180, int(np.clip(s, 0, 255)), int(np.clip(v, 0, 255))]]])
    return tuple(int(c) for c in cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0])


def sample_style(rng):
    """Draws a PersonStyle (proportions, colours, facing)."""
    parts = np.zeros((4, 2, 3), np.int32)
    for p, hue in enumerate(PART_HUES):
        h = hue + rng.uniform(-10, 10)
        s = rng.uniform(150, 255)
        v = rng.uniform(170, 255)
        parts[p, 0] = _hsv_to_bgr(h, s, v)
        parts[p, 1] = _hsv_to_bgr(h, s, v * 0.45)
    skin = _hsv_to_bgr(rng.uniform(5, 20), rng.uniform(60, 160), rng.uniform(110, 240))
    return PersonStyle(
        facing_front=bool(rng.random() < 0.75),
        turn=float(rng.uniform(0.55, 1.0)),
        upper_arm=float(rng.uniform(0.52, 0.66)),
        forearm=float(rng.uniform(0.48, 0.6)),
        thigh=float(rng.uniform(0.8, 0.98)),
        shin=float(rng.uniform(0.78, 0.95)),
        shoulder_half=float(rng.uniform(0.36, 0.46)),
        hip_half=float(rng.uniform(0.18, 0.25)),
        head=float(rng.uniform(0.42, 0.52)),
        widths=np.array([rng.uniform(0.17, 0.23), rng.uniform(0.13, 0.18),
                         rng.uniform(0.22, 0.3), rng.uniform(0.16, 0.22)]),
        part_colors=parts,
        torso_color=_hsv_to_bgr(rng.uniform(0, 180), rng.uniform(0, 255), rng.uniform(60, 230)),
        skin_color=skin,
        hair_color=_hsv_to_bgr(rng.uniform(0, 30), rng.uniform(50, 200), rng.uniform(20, 90)),
        shoe_color=_hsv_to_bgr(rng.uniform(0, 180), rng.uniform(0, 120), rng.uniform(20, 80)),
    )


@dataclasses.dataclass
class PoseAngles:
    """Joint angles in degrees (0 = hanging straight down; positive = outwards)."""

    tilt: float
    neck: float
    shoulder: np.ndarray  # [2] left, right
    elbow: np.ndarray  # [2]
    hip: np.ndarray  # [2]
    knee: np.ndarray  # [2]
    face_yaw: float


def sample_angles(rng):
    """Draws a static pose from plausible ranges (a mix of relaxed and raised arms)."""
    raised = rng.random(2) < 0.25
    shoulder = np.where(raised, rng.uniform(70, 170, 2), rng.uniform(-25, 60, 2))
    return PoseAngles(
        tilt=float(np.clip(rng.normal(0, 8), -25, 25)),
        neck=float(rng.uniform(-20, 20)),
        shoulder=shoulder,
        elbow=rng.uniform(-30, 140, 2),
        hip=rng.uniform(0, 40, 2),  # legs apart: crossing legs would be ambiguous
        # In a frontal view a bent knee mostly shortens the shin; only a little of the
        # bend shows sideways, and never so much that the feet cross.
        knee=rng.uniform(0, 35, 2) * (rng.random(2) < 0.7),
        face_yaw=float(rng.uniform(-0.3, 0.3)),
    )


@dataclasses.dataclass
class WalkMotion:
    """Smooth periodic joint motion: angles(t) = base + amplitude * sin(omega t + phase)."""

    base: PoseAngles
    omega: float
    phase: float
    swing: float

    def angles(self, t):
        s = np.sin(self.omega * t + self.phase)
        c = np.cos(self.omega * t + self.phase)
        b = self.base
        # Arms and legs swing in opposite phase, as in walking; the knee bends most
        # when the leg swings back.
        return PoseAngles(
            tilt=b.tilt + 2.0 * c,
            neck=b.neck + 4.0 * np.sin(0.5 * self.omega * t),
            shoulder=b.shoulder + self.swing * np.array([s, -s]),
            elbow=b.elbow + 0.6 * self.swing * np.array([c, -c]),
            hip=np.maximum(b.hip + 0.5 * self.swing * np.array([-s, s]), 0.0),
            knee=np.clip(b.knee + 0.5 * self.swing * np.array([c, -c]), 0.0, 40.0),
            face_yaw=float(np.clip(b.face_yaw + 0.1 * np.sin(0.3 * self.omega * t), -0.4, 0.4)),
        )


def sample_motion(rng):
    """Draws a WalkMotion around a relaxed standing pose."""
    base = sample_angles(rng)
    base.shoulder = rng.uniform(0, 40, 2)
    base.hip = rng.uniform(0, 20, 2)
    base.knee = rng.uniform(0, 20, 2)
    return WalkMotion(base=base, omega=float(rng.uniform(0.35, 0.8)),
                      phase=float(rng.uniform(0, 2 * np.pi)), swing=float(rng.uniform(15, 40)))


def _dir(angle_deg):
    """Unit vector at `angle_deg` from straight down, towards +x for positive angles."""
    a = np.deg2rad(angle_deg)
    return np.array([np.sin(a), np.cos(a)])


def build_points(pelvis, torso_len, style, angles):
    """The 19 points [19, 2] (image pixels) of a person.

    Args:
      pelvis: (x, y) of the pelvis centre.
      torso_len: pelvis-to-neck length in pixels (sets the person's scale).
      style: PersonStyle.
      angles: PoseAngles.
    """
    L = float(torso_len)
    pelvis = np.asarray(pelvis, np.float64)
    pts = np.zeros((NUM_POINTS, 2))
    up = -_dir(angles.tilt)  # torso axis, pointing up
    right = np.array([-up[1], up[0]])  # image-right when upright
    # Facing the camera, the person's left side is on the image's right.
    side = 1.0 if style.facing_front else -1.0
    neck = pelvis + L * up
    for i, s in ((5, side), (6, -side)):
        pts[i] = neck - 0.1 * L * up + s * style.shoulder_half * style.turn * L * right
    for i, s in ((11, side), (12, -side)):
        pts[i] = pelvis + s * style.hip_half * style.turn * L * right
    for j, (root, mid, end, a1, a2, l1, l2) in enumerate((
            (5, 7, 9, "shoulder", "elbow", style.upper_arm, style.forearm),
            (11, 13, 15, "hip", "knee", style.thigh, style.shin))):
        for k, (r, m, e) in enumerate(((root, mid, end), (root + 1, mid + 1, end + 1))):
            outward = side if k == 0 else -side  # +x for the limb on the image right
            ang1 = angles.tilt + outward * getattr(angles, a1)[k]
            # Elbows bend outwards-up; knees bend outwards a little, the rest of the
            # knee bend is foreshortening of the shin (it points at the camera).
            bend = getattr(angles, a2)[k]
            ang2 = ang1 + outward * bend
            shorten = 1.0 if j == 0 else np.cos(np.deg2rad(min(abs(bend) * 1.5, 60.0)))
            pts[m] = pts[r] + l1 * L * _dir(ang1)
            pts[e] = pts[m] + l2 * shorten * L * _dir(ang2)
    head_up = -_dir(angles.tilt + angles.neck)
    head_right = np.array([-head_up[1], head_up[0]])
    head_len = style.head * L
    pts[HEAD_BOTTOM] = neck
    pts[HEAD_TOP] = neck + head_len * head_up
    center = neck + 0.55 * head_len * head_up
    yaw = angles.face_yaw * head_len * 0.3 * head_right
    pts[0] = center - 0.08 * head_len * head_up + yaw
    for i, s in ((1, side), (2, -side)):
        pts[i] = center + 0.1 * head_len * head_up + s * 0.17 * head_len * head_right + yaw
    for i, s in ((3, side), (4, -side)):
        pts[i] = center + s * 0.36 * head_len * head_right
    return pts.astype(np.float32)


def head_geometry(points, style, torso_len):
    """Head centre (x, y) and radius in pixels."""
    head_len = style.head * torso_len
    center = points[HEAD_BOTTOM] + 0.55 * (points[HEAD_TOP] - points[HEAD_BOTTOM])
    return center, 0.42 * head_len


def _strip(img, idmap, pid, p, q, width, color_left, color_right):
    """A limb p->q as two lengthwise halves (left edge colour_left, right colour_right)."""
    d = q - p
    n = np.linalg.norm(d)
    if n < 1e-3:
        return
    # The limb's left edge, seen walking from p to q in image coordinates (y down).
    left = np.array([d[1], -d[0]]) / n
    half = max(width / 2.0, 1.0)
    for sign, color in ((1.0, color_left), (-1.0, color_right)):
        quad = np.array([p, q, q + sign * half * left, p + sign * half * left])
        quad = np.round(quad * 4).astype(np.int32)
        cv2.fillConvexPoly(img, quad, color, cv2.LINE_AA, shift=2)
        cv2.fillConvexPoly(idmap, quad, int(pid), cv2.LINE_8, shift=2)


def _circle(img, idmap, pid, c, r, color):
    c4 = tuple(int(round(v * 4)) for v in c)
    r4 = max(int(round(r * 4)), 4)
    cv2.circle(img, c4, r4, color, -1, cv2.LINE_AA, shift=2)
    cv2.circle(idmap, c4, r4, int(pid), -1, cv2.LINE_8, shift=2)


def draw_person(img, idmap, pid, points, style, torso_len):
    """Draws a person onto a BGR image and its id into `idmap` (uint8 [h, w]).

    Later drawings cover earlier ones in both, so `idmap` tells, per pixel, which
    person (or occluder) is in front.
    """
    L = float(torso_len)
    pts = points.astype(np.float64)
    limbs_px = {}
    for p, q, part in LIMBS:
        limbs_px[(p, q)] = (part, style.widths[part] * L)
    bright = [tuple(int(v) for v in style.part_colors[k, 0]) for k in range(4)]
    dark = [tuple(int(v) for v in style.part_colors[k, 1]) for k in range(4)]

    def limb(p, q):
        part, width = limbs_px[(p, q)]
        if p in LEFT_POINTS:
            _strip(img, idmap, pid, pts[p], pts[q], width, bright[part], dark[part])
        else:
            _strip(img, idmap, pid, pts[p], pts[q], width, dark[part], bright[part])

    def cap(joint, part):
        # A dark round cap on elbows and knees marks the joint itself.
        _circle(img, idmap, pid, pts[joint], 0.55 * style.widths[part] * L, dark[part])

    # Legs, then the torso, then arms and head (arms in front of the body).
    for p, q in ((11, 13), (13, 15), (12, 14), (14, 16)):
        limb(p, q)
    cap(13, 2)
    cap(14, 2)
    for a in (15, 16):
        _circle(img, idmap, pid, pts[a], 0.09 * L, style.shoe_color)
    torso = np.array([pts[5], pts[6], pts[12], pts[11]])
    torso4 = np.round(torso * 4).astype(np.int32)
    cv2.fillConvexPoly(img, torso4, style.torso_color, cv2.LINE_AA, shift=2)
    cv2.fillConvexPoly(idmap, torso4, int(pid), cv2.LINE_8, shift=2)
    # Neck
    neck_w = 0.14 * L
    _strip(img, idmap, pid, pts[HEAD_BOTTOM] - 0.1 * (pts[HEAD_TOP] - pts[HEAD_BOTTOM]),
           pts[HEAD_BOTTOM] + 0.3 * (pts[HEAD_TOP] - pts[HEAD_BOTTOM]), neck_w,
           style.skin_color, style.skin_color)
    for p, q in ((5, 7), (7, 9), (6, 8), (8, 10)):
        limb(p, q)
    cap(7, 0)
    cap(8, 0)
    for a in (9, 10):
        _circle(img, idmap, pid, pts[a], 0.1 * L, style.skin_color)
    center, radius = head_geometry(points, style, L)
    if style.facing_front:
        _circle(img, idmap, pid, center, radius, style.skin_color)
        # Hair on top, eyes, nose: the face tells front from back.
        top = center + 0.55 * (pts[HEAD_TOP] - center)
        _circle(img, idmap, pid, top, radius * 0.55, style.hair_color)
        _circle(img, idmap, pid, center, radius * 0.75, style.skin_color)
        eye_r = max(radius * 0.14, 0.8)
        for e in (1, 2):
            _circle(img, idmap, pid, pts[e], eye_r, (30, 30, 30))
        _circle(img, idmap, pid, pts[0], max(radius * 0.12, 0.8), (40, 40, 160))
    else:
        _circle(img, idmap, pid, center, radius, style.hair_color)
    for e in (3, 4):
        _circle(img, idmap, pid, pts[e], max(radius * 0.16, 0.8), style.skin_color)


def person_extent(points, style, torso_len):
    """Amodal box (x1, y1, x2, y2) of a drawn person: joints plus limb/head margins."""
    L = float(torso_len)
    center, radius = head_geometry(points, style, L)
    body = points[5:17]
    margin = 0.15 * L
    lo = np.minimum(body.min(axis=0) - margin, center - radius)
    hi = np.maximum(body.max(axis=0) + margin, center + radius)
    return np.concatenate([lo, hi]).astype(np.float32)
