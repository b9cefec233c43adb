"""Keypoint metadata that travels with a dataset: names, flip pairs, OKS sigmas, groups.

A model outputs K heatmap channels *positionally*; what channel k means is defined by
the dataset's `DatasetInfo`. COCO and PoseTrack18 both have 17 slots and share slots
5-16 (the body joints), so a COCO model fine-tunes on PoseTrack as in the paper
(Sec. 4.1); slots 1-4 differ (COCO: eyes and ears; PoseTrack18: head_bottom, head_top
and two ear slots that are always unlabelled).

This module lives in `codecs` because the input pipeline (flip augmentation,
half-body), inference (flip test) and export all need it and `codecs` sits below them.
"""
import dataclasses
from typing import Dict, Tuple

import numpy as np

COCO_KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

POSETRACK18_KEYPOINT_NAMES = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear",
) + COCO_KEYPOINT_NAMES[5:]

# COCO's per-keypoint OKS falloff constants (the values pycocotools' COCOeval uses).
COCO_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)

# COCO-style skeleton (0-based pairs) for drawing; identical slot layout for both sets.
SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
    (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
    (3, 5), (4, 6),
)


def _flip_pairs_from_names(names):
    """Pairs (i, j) with names `left_x` / `right_x`; every other slot maps to itself."""
    index = {n: i for i, n in enumerate(names)}
    pairs = []
    for i, name in enumerate(names):
        if name.startswith("left_"):
            j = index.get("right_" + name[len("left_"):])
            if j is not None:
                pairs.append((i, j))
    return tuple(pairs)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a K-keypoint dataset.

    Args:
      name: short dataset name ("coco", "posetrack18").
      keypoint_names: K names, in channel order.
      sigmas: K OKS falloff constants (as in COCOeval).
      upper_body_ids: slots used by half-body augmentation's upper half.
      lower_body_ids: slots used by half-body augmentation's lower half.
      joint_groups: reporting groups, name -> slots (e.g. PoseTrack's Head, Shoulder).
      joint_weights: K per-keypoint loss weights (mmpose's COCO values; optional use).
      skeleton: 0-based pairs of slots for drawing.

    Example:
      >>> info = COCO_INFO
      >>> info.num_keypoints, info.flip_pairs[0]
      (17, (1, 2))
    """

    name: str
    keypoint_names: Tuple[str, ...]
    sigmas: Tuple[float, ...]
    upper_body_ids: Tuple[int, ...]
    lower_body_ids: Tuple[int, ...]
    joint_groups: Dict[str, Tuple[int, ...]]
    joint_weights: Tuple[float, ...]
    skeleton: Tuple[Tuple[int, int], ...] = SKELETON

    def __post_init__(self):
        k = len(self.keypoint_names)
        for field in ("sigmas", "joint_weights"):
            if len(getattr(self, field)) != k:
                raise ValueError(f"DatasetInfo {self.name}: {field} has "
                                 f"{len(getattr(self, field))} entries, expected {k}")

    @property
    def num_keypoints(self):
        """K, the number of keypoint slots (= heatmap channels)."""
        return len(self.keypoint_names)

    @property
    def flip_pairs(self):
        """Tuple of (left, right) slot pairs swapped by a horizontal flip."""
        return _flip_pairs_from_names(self.keypoint_names)

    @property
    def flip_index(self):
        """int array [K]: slot k of a flipped sample takes slot flip_index[k]."""
        index = np.arange(self.num_keypoints)
        for i, j in self.flip_pairs:
            index[i], index[j] = j, i
        return index


def _body_groups(names):
    groups = {}
    for group, joint in (("Shoulder", "shoulder"), ("Elbow", "elbow"), ("Wrist", "wrist"),
                         ("Hip", "hip"), ("Knee", "knee"), ("Ankle", "ankle")):
        groups[group] = (names.index("left_" + joint), names.index("right_" + joint))
    return groups


# mmpose's COCO keypoint loss weights (elbows/knees 1.2, wrists/ankles 1.5).
_JOINT_WEIGHTS = (1., 1., 1., 1., 1., 1., 1., 1.2, 1.2, 1.5, 1.5, 1., 1., 1.2, 1.2, 1.5, 1.5)

COCO_INFO = DatasetInfo(
    name="coco",
    keypoint_names=COCO_KEYPOINT_NAMES,
    sigmas=COCO_SIGMAS,
    upper_body_ids=tuple(range(11)),
    lower_body_ids=tuple(range(11, 17)),
    joint_groups={"Head": (0, 1, 2, 3, 4), **_body_groups(COCO_KEYPOINT_NAMES)},
    joint_weights=_JOINT_WEIGHTS,
)

# poseval's Head group is head_top, neck (= head_bottom) and nose; the ear slots are
# never labelled in PoseTrack18 and are not evaluated.
POSETRACK18_INFO = DatasetInfo(
    name="posetrack18",
    keypoint_names=POSETRACK18_KEYPOINT_NAMES,
    sigmas=COCO_SIGMAS,
    upper_body_ids=tuple(range(11)),
    lower_body_ids=tuple(range(11, 17)),
    joint_groups={"Head": (0, 1, 2), **_body_groups(POSETRACK18_KEYPOINT_NAMES)},
    joint_weights=_JOINT_WEIGHTS,
)

DATASET_INFOS = {"coco": COCO_INFO, "posetrack18": POSETRACK18_INFO}

# The keypoint layouts a model, a schedule or an exported model can carry (what heatmap
# channel k means): the names of DATASET_INFOS.
KEYPOINT_LAYOUTS = tuple(DATASET_INFOS)

# Slots a layout's annotations never label: trained at target weight 0 (PoseTrack18's
# ear slots are always 0 in the released annotations).
UNLABELLED_SLOTS = {"coco": (), "posetrack18": (3, 4)}


class LayoutMismatchError(ValueError):
    """Two things that must share a keypoint layout (a model and its data, a key model
    and its T-ViPNets, a schedule and its models) do not."""


def check_layout(layout, where, field="keypoint_layout"):
    """`layout` if it is one of KEYPOINT_LAYOUTS, else ValueError naming `where`/`field`."""
    if layout not in KEYPOINT_LAYOUTS:
        raise ValueError(f"{where}: field '{field}': {layout!r} is not a keypoint layout; "
                         f"expected one of {list(KEYPOINT_LAYOUTS)}")
    return layout


def require_same_layout(layout_a, where_a, layout_b, where_b, what="pair"):
    """Raises LayoutMismatchError naming both layouts and both sources when they differ.

    Args:
      layout_a, layout_b: keypoint layout names.
      where_a, where_b: what carries each (a file or folder, as the user named it).
      what: the pairing refused ("evaluate", "train T-ViPNets on", ...), for the message.
    """
    if layout_a != layout_b:
        raise LayoutMismatchError(
            f"cannot {what}: {where_a} has keypoint layout {layout_a!r} but {where_b} has "
            f"{layout_b!r} (heatmap channels 1-4 mean different joints: COCO eyes and ears vs "
            f"PoseTrack18 head_bottom, head_top and ears); fine-tune the model on data of the "
            f"other layout first (README, \"Full-scale recipes\")")
    return layout_a


def info_for_names(names):
    """Returns the known DatasetInfo whose keypoint names equal `names`, else None."""
    names = tuple(names)
    for info in DATASET_INFOS.values():
        if info.keypoint_names == names:
            return info
    return None
