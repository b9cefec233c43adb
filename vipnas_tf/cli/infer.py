"""Online video pose estimation with a ViPNAS video schedule (S-ViPNet key frames,
T-ViPNet propagation frames). See `vipnas_tf.runtime.video` for what happens.

Usage:
  python scripts/infer_video.py --video=clip.mp4 --schedule=out/schedule.json \
      --output_json=poses.json --output_video=overlay.mp4 --json
  python scripts/infer_video.py --images=frames/ --schedule=out/schedule.json \
      --output_json=poses.json --boxes=detections.json --json
  python scripts/infer_video.py --video=clip.mp4 --schedule=... --output_json=... \
      --first_box=120,40,200,420 --first_box=400,60,180,400     # two people

Person boxes come from --boxes (COCO results per frame with image_id = frame index, a
PoseTrack detections file, or {"images", "annotations"}), else from each person's
previous keypoints, starting from --first_box (repeatable) or from a person detector
(--detector, see vipnas_tf/runtime/detector.py): OpenCV's HOG people detector by
default, a .tflite SSD-style detection model by path, or none (the whole frame). The
detector runs on the first frame and whenever a track is lost:

  python scripts/infer_video.py --video=clip.mp4 --schedule=... --output_json=... \
      --detector=ssd_mobilenet.tflite --detector_threshold=0.5

Writes PoseTrack results JSON (--output_json) and optionally an overlay video; prints a
summary (frames, poses, fps) - as JSON with --json. Exit status 2 on bad input.
"""
import json
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("video", None, "Video file to read (OpenCV).")
flags.DEFINE_string("images", None, "Folder of frames (natural sort order) instead of --video.")
flags.DEFINE_string("schedule", None, "schedule.json (format vipnas-tf/schedule/v1).")
flags.DEFINE_string("output_json", None, "PoseTrack results JSON to write.")
flags.DEFINE_string("output_video", None, "Optional overlay video (.mp4 / .avi).")
flags.DEFINE_string("boxes", None, "Optional person boxes file (see module docstring).")
flags.DEFINE_float("box_score_threshold", 0.0, "Drop boxes of the boxes file scored below this.")
flags.DEFINE_integer("video_id", None, "Boxes file with PoseTrack image ids of several videos: the video to use.")
flags.DEFINE_string("detector", None, "Person detector without --boxes / --first_box: hog | none | PATH.tflite "
                    "(default hog; none crops the whole frame).")
flags.DEFINE_float("detector_threshold", None, "Detector score threshold (default: hog 0.3, .tflite 0.5).")
flags.DEFINE_integer("redetect_every", 0, "With a detector, also detect every N frames and move the tracks onto "
                     "its boxes (0: only on the first frame and when a track is lost).", lower_bound=0)
flags.DEFINE_multi_string("first_box", None, "x,y,w,h of a person in the first frame (repeat for several).")
flags.DEFINE_integer("max_frames", None, "Process at most this many frames.")
flags.DEFINE_float("keypoint_threshold", 0.3, "Confident keypoint score (keypoint boxes, drawing).")
flags.DEFINE_enum("keypoints", None, ["posetrack18", "coco"], "Keypoint names of the results (default: the "
                  "schedule's keypoint_layout; another layout is refused).")
flags.DEFINE_bool("lower", True, "Run the lowered static models (same function, faster in TF).")
flags.DEFINE_bool("progress", False, "Show a progress bar.")
flags.DEFINE_bool("json", False, "Print the summary as JSON.")


def _detector(have_boxes):
    """The --detector to use (None: none). Raises ValueError on a bad or unusable value."""
    from vipnas_tf.runtime import detector as det  # pylint: disable=import-outside-toplevel

    spec = FLAGS.detector
    if have_boxes:
        if spec not in (None, "none"):
            raise ValueError(f"--detector={spec} with --boxes or --first_box: the boxes are given, use one of them")
        return None
    if spec is None:  # the default: HOG where this OpenCV has it
        if not det.hog_available():
            print("infer_video.py: warning: this OpenCV has no HOG people detector (pip install "
                  "opencv-contrib-python-headless); cropping the whole frame", file=sys.stderr)
            return None
        spec = "hog"
    return det.make_detector(spec, FLAGS.detector_threshold)


def main(argv):
    del argv
    # Inputs are read and checked before TensorFlow starts: bad input fails fast.
    from vipnas_tf.runtime.boxes import load_boxes  # pylint: disable=import-outside-toplevel
    from vipnas_tf.runtime.source import FrameSource  # pylint: disable=import-outside-toplevel
    from vipnas_tf.runtime.tracking import parse_box  # pylint: disable=import-outside-toplevel
    from vipnas_tf.temporal.schedule import Schedule  # pylint: disable=import-outside-toplevel

    try:
        if not FLAGS.schedule or not FLAGS.output_json:
            raise ValueError("--schedule and --output_json are required")
        if (FLAGS.video is None) == (FLAGS.images is None):
            raise ValueError("give exactly one of --video=PATH and --images=DIR")
        if FLAGS.boxes and FLAGS.first_box:
            raise ValueError("--first_box and --boxes are exclusive (the boxes file gives every frame's boxes)")
        schedule = Schedule.load(FLAGS.schedule).validate()
        source = FrameSource(video=FLAGS.video, images=FLAGS.images, max_frames=FLAGS.max_frames)
        boxes = None
        if FLAGS.boxes:
            boxes = load_boxes(FLAGS.boxes, num_frames=None, score_threshold=FLAGS.box_score_threshold,
                               video_id=FLAGS.video_id)
            if boxes and max(boxes) >= source.total_frames:
                total = source.count_frames()  # the container's count can be off: count exactly
                boxes = load_boxes(FLAGS.boxes, num_frames=total, score_threshold=FLAGS.box_score_threshold,
                                   video_id=FLAGS.video_id)
        first_boxes = [b.split(",") for b in FLAGS.first_box] if FLAGS.first_box else None
        for b in first_boxes or []:
            parse_box(",".join(b), source.frame_size)
        detector = _detector(boxes is not None or bool(first_boxes))
        from vipnas_tf.runtime.models import load_schedule_models  # pylint: disable=import-outside-toplevel
        from vipnas_tf.runtime.video import (  # pylint: disable=import-outside-toplevel
            RunnerConfig,
            VideoPoseRunner,
            write_results,
        )
        config = RunnerConfig(keypoint_threshold=FLAGS.keypoint_threshold, keypoint_format=FLAGS.keypoints,
                              redetect_every=FLAGS.redetect_every or None)
        models = load_schedule_models(schedule, lower=FLAGS.lower)
        runner = VideoPoseRunner(schedule, models, config)
        result = runner.run(source, boxes=boxes, first_boxes=first_boxes, output_video=FLAGS.output_video,
                            progress=FLAGS.progress, detector=detector)
        write_results(FLAGS.output_json, result)
    except (ValueError, FileNotFoundError) as e:
        print(f"infer_video.py: error: {e}", file=sys.stderr)
        return 2
    summary = {"source": source.path, **result["summary"], "output_json": FLAGS.output_json,
               "output_video": FLAGS.output_video, "schedule": FLAGS.schedule}
    if FLAGS.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['frames']} frames ({summary['empty_frames']} without people), {summary['poses']} poses "
              f"in {summary['tracks']} tracks; {summary['fps']} fps (networks alone {summary['model_fps']} fps, "
              f"wall {summary['wall_fps']} fps); key frame every {summary['key_frame_interval']} frames")
        if "detector" in summary:
            print(f"detector {summary['detector']}: {summary['detector_calls']} calls, "
                  f"{100 * (summary['detector_share'] or 0):.0f}% of the per-frame time")
        print(f"wrote {FLAGS.output_json}" + (f" and {FLAGS.output_video}" if FLAGS.output_video else ""))
    return 0


if __name__ == "__main__":
    app.run(main)
