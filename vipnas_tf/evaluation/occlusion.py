"""Scoring joints hidden behind occluders (synthetic videos), to show what earlier
frames add.

The synthetic PoseTrack videos label every joint, also while a person walks behind a
pillar, and mark such joints in the non-standard per-annotation `occluded` list. A
single-frame model cannot see them; a temporal model that carries heatmaps over from
earlier frames can. These helpers measure exactly that:

- `occluded_joint_pckh`: PCKh@0.5 (top-down, one prediction per ground-truth person)
  on occluded vs. visible joints.
- `occlusion_clips`: the clips whose last frame has the person occluded while their
  first frame did not, i.e. where memory of earlier frames should help.
"""
import numpy as np

from vipnas_tf.data.samples import ClipSet


def head_sizes(data, rows):
    """PCKh reference length 0.6 x head-box diagonal [M] of sample rows (NaN if absent)."""
    out = np.full(len(rows), np.nan)
    for i, r in enumerate(rows):
        head = data.annotations[int(data.samples.ann_ids[r])].get("bbox_head")
        if head is not None:
            out[i] = 0.6 * np.hypot(head[2], head[3])
    return out


def occluded_joint_pckh(data, rows, keypoints, threshold=0.5):
    """PCKh of occluded and of visible labelled joints.

    Args:
      data: PoseTrackData whose annotations carry `occluded` (synthetic sets).
      rows: [M] rows of `data.samples` the predictions belong to.
      keypoints: [M, K, 2] predicted keypoints in image pixels.
      threshold: PCKh threshold.

    Returns:
      dict: occluded_PCKh, visible_PCKh (percent; NaN when there is no such joint),
      num_occluded_joints, num_visible_joints.
    """
    rows = np.asarray(rows)
    s = data.samples
    labelled = s.visible[rows] > 0
    occluded = labelled & (s.occluded[rows] > 0)
    visible = labelled & ~occluded
    dist = np.linalg.norm(np.asarray(keypoints, np.float64) - s.keypoints[rows], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        hit = dist / head_sizes(data, rows)[:, None] <= threshold

    def pct(mask):
        return float(100.0 * hit[mask].mean()) if mask.any() else float("nan")

    return {"occluded_PCKh": pct(occluded), "visible_PCKh": pct(visible),
            "num_occluded_joints": int(occluded.sum()), "num_visible_joints": int(visible.sum())}


def occlusion_clips(data, num_frames, min_occluded=3):
    """Clips whose last frame has >= `min_occluded` occluded joints and whose first
    frame has none (the person was seen before going behind something).

    Returns:
      ClipSet (a subset of `data.clips(num_frames)`).
    """
    clips = data.clips(num_frames)
    occ = (data.samples.occluded > 0) & (data.samples.visible > 0)
    n_occ = occ.sum(axis=1)
    keep = (n_occ[clips.indices[:, -1]] >= min_occluded) & (n_occ[clips.indices[:, 0]] == 0)
    return ClipSet(clips.samples, clips.indices[keep], clips.video_ids[keep])
