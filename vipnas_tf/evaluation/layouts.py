"""Results of one keypoint layout scored only against ground truth of the same layout."""
import glob
import os

from vipnas_tf.codecs.dataset_info import info_for_names, require_same_layout
from vipnas_tf.data.formats import annotation_layout
from vipnas_tf.utils.io import read_json


def check_result_layouts(metric, gt, results, producers=()):
    """Refuses results of another keypoint layout than the ground truth's.

    Args:
      metric: "coco" | "posetrack" (the ground truth's format).
      gt: the ground-truth file (or folder for posetrack).
      results: the results file (or folder of per-video files).
      producers: (layout, where) pairs of what produced the results (a model
        directory, a schedule, a stated layout); the results' own keypoint names count too.

    Raises:
      LayoutMismatchError naming both layouts and where each comes from.
    """
    gt_layout = annotation_layout(gt, "coco" if metric == "coco" else "posetrack")
    producers = list(producers)
    files = sorted(glob.glob(os.path.join(results, "*.json"))) if os.path.isdir(results) else [results]
    for file in files[:1]:
        data = read_json(file)
        cats = data.get("categories", []) if isinstance(data, dict) else []
        names = next((c.get("keypoints") for c in cats or [] if isinstance(c, dict) and c.get("keypoints")), None)
        info = info_for_names(names) if names else None
        if info is not None:
            producers.append((info.name, f"the results {file} (their keypoint names)"))
    for layout, where in producers:
        require_same_layout(layout, where, gt_layout, f"the ground truth {gt}", what="evaluate")
