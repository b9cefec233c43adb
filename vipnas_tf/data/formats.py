"""Which annotation format a file or folder is, which keypoint layout it has, and one
loader for person samples of either.

Formats:
- "coco": a COCO keypoints JSON (`person_keypoints_*.json`): top-level `images` and
  `annotations` lists, no video fields.
- "posetrack": PoseTrack18 annotations as released (a folder of per-video JSON files,
  `annotations/train/*.json`) or merged into one file (mmpose's
  `posetrack18_train.json`): COCO-style, with `vid_id` / `frame_id` on the images and
  `track_id` on the annotations.

`detect_annotation_format` tells them apart from the content; a file that is neither
gets an error naming it and what was looked for. The keypoint layout ("coco",
"posetrack18") comes from the person category's keypoint names; a file without names
gets its format's own layout (what the readers assume).
"""
import glob
import os

from vipnas_tf.codecs.dataset_info import COCO_INFO, DATASET_INFOS, POSETRACK18_INFO, info_for_names
from vipnas_tf.data.coco import load_coco
from vipnas_tf.data.posetrack import PoseTrackData
from vipnas_tf.utils.io import read_json

FORMATS = ("coco", "posetrack")
DATA_FORMATS = ("auto",) + FORMATS
_VIDEO_IMAGE_KEYS = ("vid_id", "frame_id")


def _first_json(path):
    files = sorted(glob.glob(os.path.join(path, "*.json")))
    if not files:
        raise FileNotFoundError(f"{path}: no .json annotation files in this folder")
    return files[0]


def _format_of_dict(data, path):
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise ValueError(
            f"{path}: cannot tell the annotation format: expected a JSON object with top-level "
            f"'images' and 'annotations' lists (COCO keypoints, or PoseTrack18 with "
            f"{'/'.join(_VIDEO_IMAGE_KEYS)} on its images), got "
            f"{type(data).__name__ if not isinstance(data, dict) else 'keys ' + str(sorted(data)[:8])}; "
            f"pass the format explicitly (--data_format=coco|posetrack)")
    images = [img for img in data["images"][:50] if isinstance(img, dict)]
    anns = [a for a in data["annotations"][:50] if isinstance(a, dict)]
    if any(all(k in img for k in _VIDEO_IMAGE_KEYS) for img in images) or any("track_id" in a for a in anns):
        return "posetrack"
    return "coco"


def detect_annotation_format(path, data=None):
    """"coco" or "posetrack" for an annotation file or folder (see module doc).

    Args:
      path: a JSON file, or a folder of per-video JSON files (always "posetrack").
      data: the file's already parsed content (saves reading it twice).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        _first_json(path)
        return "posetrack"
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such annotation file or folder")
    return _format_of_dict(read_json(path) if data is None else data, path)


def _names(data):
    for cat in (data.get("categories", []) if isinstance(data, dict) else []) or []:
        if isinstance(cat, dict) and isinstance(cat.get("keypoints"), list) and cat["keypoints"]:
            return tuple(cat["keypoints"])
    return None


def annotation_layout(path, data_format="auto", data=None):
    """The keypoint layout ("coco" | "posetrack18") of an annotation file or folder.

    From the person category's keypoint names; without names, the format's default
    (COCO -> "coco", PoseTrack -> "posetrack18"). Names of no known layout raise a
    ValueError naming the file and the names.
    """
    path = os.fspath(path)
    fmt = detect_annotation_format(path, data) if data_format == "auto" else data_format
    file = _first_json(path) if os.path.isdir(path) else path
    content = data if data is not None and file == path else read_json(file)
    names = _names(content)
    if names is None:
        return (POSETRACK18_INFO if fmt == "posetrack" else COCO_INFO).name
    info = info_for_names(names)
    if info is None:
        raise ValueError(f"{file}: field 'categories[].keypoints': {list(names)} is no known keypoint "
                         f"layout; expected the names of one of {list(DATASET_INFOS)}")
    return info.name


def load_samples(path, image_root, data_format="auto"):
    """Person samples (SampleSet) of a COCO or PoseTrack18 annotation file or folder.

    Args:
      path: annotation file, or a folder of per-video PoseTrack18 files.
      image_root: folder the `file_name`s are relative to.
      data_format: "auto" (detect from the content), "coco" or "posetrack".

    Returns:
      (SampleSet, format). `samples.info.name` is the keypoint layout.
    """
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {list(DATA_FORMATS)}, got {data_format!r}")
    path = os.fspath(path)
    data = None
    if data_format == "auto":
        if os.path.isfile(path):
            data = read_json(path)
        data_format = detect_annotation_format(path, data)
    if data_format == "posetrack":
        return PoseTrackData(path, image_root).samples, "posetrack"
    if os.path.isdir(path):
        raise ValueError(f"{path}: data_format 'coco' needs one COCO keypoints JSON file, got a folder")
    return load_coco(path, image_root, data=data), "coco"


def run_config_layout(run_config, where):
    """The keypoint layout a training run's config states, or derives.

    Args:
      run_config: the dict of a model directory's run_config.json.
      where: that file's path, for errors.

    `keypoint_layout` when present; a run without that key gets the
    layout of its own training annotations (`train_ann`) if they still exist. Otherwise
    ValueError names the file and says how to state it.
    """
    layout = run_config.get("keypoint_layout")
    if layout:
        if layout not in DATASET_INFOS:
            raise ValueError(f"{where}: field 'keypoint_layout': {layout!r} is not a keypoint layout; "
                             f"expected one of {list(DATASET_INFOS)}")
        return layout
    fix = (f"add \"keypoint_layout\": \"coco\" (trained on COCO keypoints) or \"posetrack18\" (on "
           f"PoseTrack18) to {where}")
    ann = run_config.get("train_ann") or ""
    if ann and os.path.exists(ann):
        try:
            return annotation_layout(ann, run_config.get("data_format") or "auto")
        except (ValueError, OSError) as e:
            raise ValueError(f"{where}: no field 'keypoint_layout', and the layout of its training "
                             f"annotations {ann!r} cannot be read ({e}); {fix}") from None
    raise ValueError(f"{where}: no field 'keypoint_layout', and its training annotations train_ann={ann!r} "
                     f"no longer exist to derive it from; {fix}")
