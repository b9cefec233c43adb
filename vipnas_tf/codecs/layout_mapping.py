"""Which heatmap channels carry over when a model changes keypoint layout.

The paper fine-tunes the COCO-trained S-ViPNet on PoseTrack18 (Sec. 4.1-4.2). Both
layouts have 17 slots, but only some mean the same joint:

| PoseTrack18 slot | name        | from COCO slot | why                                      |
| ---------------- | ----------- | -------------- | ---------------------------------------- |
| 0                | nose        | 0 (nose)       | the same joint                           |
| 1                | head_bottom | fresh          | no COCO counterpart (COCO 1 is left_eye)  |
| 2                | head_top    | fresh          | no COCO counterpart (COCO 2 is right_eye) |
| 3, 4             | left/right_ear | 3, 4 (ears) | the same joints; never labelled in PoseTrack18, so trained at target weight 0: they keep what COCO taught |
| 5-16             | body joints | 5-16           | the same joints                          |

"Fresh" output-conv channels are re-drawn from the paper's initialisation N(0, 0.001)
with a zero bias, so they start near zero like a new network's heatmaps. The ear slots
are carried rather than re-drawn: with target weight 0 they would never learn anything
from fresh, while the copied COCO ear detectors still answer "where is the ear".

A pair of layouts not in `LAYOUT_MAPPINGS` (e.g. PoseTrack18 -> COCO: COCO's eyes have
no PoseTrack18 source and its ears were never trained there) is refused.
"""
from typing import Optional, Tuple

from vipnas_tf.codecs.dataset_info import DATASET_INFOS, KEYPOINT_LAYOUTS, LayoutMismatchError

# (source layout, target layout) -> for each target slot, the source slot it copies
# (None: a fresh channel).
LAYOUT_MAPPINGS = {
    ("coco", "posetrack18"): (0, None, None, 3, 4) + tuple(range(5, 17)),
}


def channel_mapping(source: str, target: str, where: str = "") -> Tuple[Optional[int], ...]:
    """For each slot of `target`, the slot of `source` whose channel it copies (None:
    fresh). The identity for equal layouts; LayoutMismatchError for a pair without a
    mapping in LAYOUT_MAPPINGS.

    Example:
      >>> channel_mapping("coco", "posetrack18")[:5]
      (0, None, None, 3, 4)
    """
    for name in (source, target):
        if name not in KEYPOINT_LAYOUTS:
            raise ValueError(f"{where or 'layout mapping'}: unknown keypoint layout {name!r}; "
                             f"expected one of {list(KEYPOINT_LAYOUTS)}")
    if source == target:
        return tuple(range(DATASET_INFOS[target].num_keypoints))
    mapping = LAYOUT_MAPPINGS.get((source, target))
    if mapping is None:
        known = ", ".join(f"{a} -> {b}" for a, b in LAYOUT_MAPPINGS)
        raise LayoutMismatchError(
            f"{where + ': ' if where else ''}no channel mapping from keypoint layout {source!r} to "
            f"{target!r} (known: {known}); start from a model of layout {target!r}")
    return mapping


def fresh_slots(source: str, target: str):
    """Target slots that start from a fresh channel under `channel_mapping`."""
    return tuple(i for i, s in enumerate(channel_mapping(source, target)) if s is None)


def _check_table():
    for (src, dst), mapping in LAYOUT_MAPPINGS.items():
        s_names, d_names = DATASET_INFOS[src].keypoint_names, DATASET_INFOS[dst].keypoint_names
        if len(mapping) != len(d_names):
            raise AssertionError(f"LAYOUT_MAPPINGS[{src}, {dst}]: {len(mapping)} entries, {len(d_names)} slots")
        for t, s in enumerate(mapping):
            # a copied channel must mean the same joint in both layouts
            if s is not None and s_names[s] != d_names[t]:
                raise AssertionError(f"LAYOUT_MAPPINGS[{src}, {dst}]: slot {t} {d_names[t]!r} copies "
                                     f"{s_names[s]!r}")


_check_table()
