"""Runs a vipnas-tf `.tflite` pose model on an image and a person box, or a video schedule on a video.

A self-contained app-side example: it needs only ai-edge-litert, numpy and OpenCV (no
vipnas_tf), and learns how to feed the model from the metadata the model carries
(the `vipnas_metadata` entry of the flatbuffer, or the `m.json` sidecar beside
`m.tflite`; format: docs/tflite.md): input size, dtype and normalisation, how the
crop is cut from the box (padding, aspect ratio), the heatmap stride, keypoint names
and skeleton.

  # one image, one box (x, y, width, height in image pixels)
  python tflite/examples/run_pose.py --model=pose.tflite --image=person.jpg \\
      --box=100,40,120,300 --output=pose.jpg --json

  # a video with the key-frame schedule of a converted schedule folder
  # (tflite/convert.py --schedule=... --output=DIR): the key model on every
  # key_frame_interval-th frame, the T-ViPNets fed the previous heatmaps in between
  python tflite/examples/run_pose.py --schedule_dir=DIR --video=clip.mp4 \\
      --box=100,40,120,300 --output=pose.mp4 --json

The box of a video is kept for a whole cycle (so each frame model's previous
heatmaps belong to its crop); with --track it is re-fitted at every key frame to the
keypoints found (their bounding box). --json prints the keypoints (image pixels) and
scores as JSON on stdout.
"""
import argparse
import json
import os
import struct
import sys

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

METADATA_NAME = "vipnas_metadata"


class PoseError(Exception):
    """Bad input: a missing file, a model without metadata, a bad box."""


# ------------------------------------------------------------------------------
# Metadata: the sidecar JSON, or the flatbuffer's metadata table read directly.


def _table_field(buf, table, field):
    """Absolute offset of field `field` of the flatbuffer table at `table`, or None."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vtable_size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * field
    if slot >= vtable_size:
        return None
    offset = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + offset if offset else None


def _deref(buf, pos):
    return pos + struct.unpack_from("<I", buf, pos)[0]


def _vector(buf, pos):
    """(first element offset, length) of the vector referenced at `pos`."""
    start = _deref(buf, pos)
    return start + 4, struct.unpack_from("<I", buf, start)[0]


def embedded_metadata(data: bytes, name: str = METADATA_NAME):
    """The JSON metadata entry `name` of a TFLite flatbuffer (schema: Model.metadata,
    field 6, a vector of {name: string, buffer: uint}; Model.buffers, field 4, a vector
    of {data: [ubyte]}), or None."""
    root = _deref(data, 0)
    meta_field, buffers_field = _table_field(data, root, 6), _table_field(data, root, 4)
    if meta_field is None or buffers_field is None:
        return None
    entries, count = _vector(data, meta_field)
    buffers, _ = _vector(data, buffers_field)
    for i in range(count):
        entry = _deref(data, entries + 4 * i)
        name_field = _table_field(data, entry, 0)
        if name_field is None:
            continue
        start, length = _vector(data, name_field)
        if data[start:start + length].decode("utf-8") != name:
            continue
        index_field = _table_field(data, entry, 1)
        index = struct.unpack_from("<I", data, index_field)[0] if index_field else 0
        buffer = _deref(data, buffers + 4 * index)
        data_field = _table_field(data, buffer, 0)
        if data_field is None:
            return None
        start, length = _vector(data, data_field)
        return json.loads(data[start:start + length].decode("utf-8"))
    return None


def read_metadata(model_path):
    """The model's metadata: from the sidecar `m.json` beside `m.tflite` if there is
    one, else from the flatbuffer."""
    if not os.path.isfile(model_path):
        raise PoseError(f"no such model file: {model_path}")
    sidecar = os.path.splitext(model_path)[0] + ".json"
    if os.path.isfile(sidecar):
        try:
            with open(sidecar, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise PoseError(f"cannot read the metadata sidecar {sidecar}: {e}") from e
    with open(model_path, "rb") as f:
        data = f.read()
    if data[4:8] != b"TFL3":
        raise PoseError(f"{model_path}: not a TFLite model (no 'TFL3' identifier)")
    try:
        meta = embedded_metadata(data)
    except (struct.error, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PoseError(f"{model_path}: unreadable '{METADATA_NAME}' metadata: {e}") from e
    if meta is None:
        raise PoseError(f"{model_path}: no '{METADATA_NAME}' metadata and no sidecar {sidecar}; "
                        "convert the model with tflite/convert.py")
    return meta


# ------------------------------------------------------------------------------
# Crops.


def box_to_center_scale(box, meta):
    """Box (x, y, w, h) -> centre and size of the region the crop covers."""
    x, y, w, h = (float(v) for v in box)
    aspect = float(meta["crop"]["aspect_ratio"])
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    padding = float(meta["crop"]["padding"])
    return np.array([x + 0.5 * float(box[2]), y + 0.5 * float(box[3])]), np.array([w, h]) * padding


def cut_crop(image_rgb, center, scale, meta):
    """The crop [H, W, 3] uint8 of the region (center, scale)."""
    out_h, out_w = meta["input_size"]
    sx, sy = out_w / scale[0], out_h / scale[1]
    matrix = np.array([[sx, 0.0, 0.5 * out_w - sx * center[0]],
                       [0.0, sy, 0.5 * out_h - sy * center[1]]])
    return cv2.warpAffine(image_rgb, matrix, (int(out_w), int(out_h)), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)


def crop_to_image(keypoints, center, scale, meta):
    """Crop pixels [K, 2] -> image pixels."""
    out_h, out_w = meta["input_size"]
    return keypoints / np.array([out_w, out_h]) * scale + center - 0.5 * scale


# ------------------------------------------------------------------------------
# The model.


def decode_heatmaps(heatmaps, stride):
    """[h, w, K] -> keypoints [K, 2] in crop pixels and scores [K]: argmax, moved a
    quarter cell towards the higher neighbour (the metadata's decode method)."""
    h, w, k = heatmaps.shape
    flat = heatmaps.reshape(h * w, k)
    idx = flat.argmax(0)
    scores = flat.max(0)
    x, y = (idx % w).astype(np.float64), (idx // w).astype(np.float64)
    for j in range(k):
        xi, yi = int(x[j]), int(y[j])
        if 0 < xi < w - 1:
            x[j] += 0.25 * np.sign(heatmaps[yi, xi + 1, j] - heatmaps[yi, xi - 1, j])
        if 0 < yi < h - 1:
            y[j] += 0.25 * np.sign(heatmaps[yi + 1, xi, j] - heatmaps[yi - 1, xi, j])
    return np.stack([x * stride[0], y * stride[1]], -1), scores


def _to_tensor(value, detail):
    """A float or uint8 array in the dtype (and quantization) of an input tensor."""
    dtype = detail["dtype"]
    scale, zero = detail["quantization"]
    if np.issubdtype(dtype, np.floating):
        return np.asarray(value, dtype)
    if scale == 0 or (scale == 1.0 and zero == 0 and np.asarray(value).dtype == dtype):
        return np.asarray(value).astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(value, np.float32) / scale + zero), info.min, info.max).astype(dtype)


def _from_tensor(value, detail):
    scale, zero = detail["quantization"]
    if np.issubdtype(value.dtype, np.floating) or scale == 0:
        return np.asarray(value, np.float32)
    return (value.astype(np.float32) - zero) * scale


class PoseModel:
    """One .tflite pose model and its metadata; `__call__(crop, prev_heatmaps)`."""

    def __init__(self, path, threads=1):
        self.path = path
        self.meta = read_metadata(path)
        try:
            self.interpreter = Interpreter(model_path=path, num_threads=threads)
        except (ValueError, RuntimeError) as e:
            raise PoseError(f"cannot load TFLite model {path}: {e}") from e
        signature = self.meta.get("signature", "serving_default")
        if signature not in self.interpreter.get_signature_list():
            raise PoseError(f"{path}: no signature {signature!r} (has {list(self.interpreter.get_signature_list())})")
        self.runner = self.interpreter.get_signature_runner(signature)
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()
        self.stride = self.meta["heatmap_stride"]
        self.mean = np.asarray(self.meta["inputs"][0]["mean"], np.float32)
        self.std = np.asarray(self.meta["inputs"][0]["std"], np.float32)

    @property
    def takes_heatmaps(self):
        return "prev_heatmaps" in self.inputs

    def __call__(self, crop_rgb, prev_heatmaps=None):
        """crop uint8 [H, W, 3] RGB -> (heatmaps [h, w, K], keypoints [K, 2] crop pixels, scores [K])."""
        image = crop_rgb[None]
        if self.meta["input_dtype"] == "float32":
            image = ((image.astype(np.float32) - self.mean) / self.std).astype(np.float32)
        feed = {"image": _to_tensor(image, self.inputs["image"])}
        if self.takes_heatmaps:
            if prev_heatmaps is None:
                raise PoseError(f"{self.path} takes the previous frame's heatmaps")
            feed["prev_heatmaps"] = _to_tensor(prev_heatmaps[None], self.inputs["prev_heatmaps"])
        out = self.runner(**feed)
        heatmaps = _from_tensor(out["heatmaps"], self.outputs["heatmaps"])[0]
        if "keypoints" in out:
            keypoints = _from_tensor(out["keypoints"], self.outputs["keypoints"])[0]
            scores = _from_tensor(out["scores"], self.outputs["scores"])[0]
        else:
            keypoints, scores = decode_heatmaps(heatmaps, self.stride)
        return heatmaps, np.asarray(keypoints, np.float64), np.asarray(scores, np.float64)


def estimate(model, image_bgr, box, prev_heatmaps=None):
    """Runs `model` on the person in `box` of a BGR image: (heatmaps, keypoints in image
    pixels [K, 2], scores [K])."""
    center, scale = box_to_center_scale(box, model.meta)
    crop = cut_crop(image_bgr[..., ::-1], center, scale, model.meta)
    heatmaps, keypoints, scores = model(crop, prev_heatmaps)
    return heatmaps, crop_to_image(keypoints, center, scale, model.meta), scores


# ------------------------------------------------------------------------------
# Drawing.


def draw_pose(image_bgr, keypoints, scores, meta, threshold=0.0, box=None):
    """Draws keypoints and the skeleton (those above `threshold`) on a copy of the image."""
    out = image_bgr.copy()
    skeleton = meta["keypoints"].get("skeleton") or []
    ok = scores > threshold
    for a, b in skeleton:
        if ok[a] and ok[b]:
            pa, pb = tuple(int(round(v)) for v in keypoints[a]), tuple(int(round(v)) for v in keypoints[b])
            cv2.line(out, pa, pb, (255, 128, 0), 2, cv2.LINE_AA)
    for k, (x, y) in enumerate(keypoints):
        if ok[k]:
            cv2.circle(out, (int(round(x)), int(round(y))), 3, (0, 0, 255), -1, cv2.LINE_AA)
    if box is not None:
        x, y, w, h = (int(round(v)) for v in box)
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 255, 0), 1)
    return out


# ------------------------------------------------------------------------------
# Video with a key-frame schedule.


def read_manifest(schedule_dir):
    """The schedule folder's manifest.json, with absolute model paths."""
    path = os.path.join(schedule_dir, "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise PoseError(f"cannot read schedule manifest {path}: {e}") from e
    if "key_model" not in manifest:
        raise PoseError(f"{path}: field 'key_model' is missing")
    frames = [f if isinstance(f, str) else f.get("file") for f in manifest.get("frame_models", [])]
    if any(not f for f in frames):
        raise PoseError(f"{path}: field 'frame_models': every entry needs a 'file'")
    interval = int(manifest.get("key_frame_interval", len(frames) + 1))
    if interval != len(frames) + 1:
        raise PoseError(f"{path}: field 'key_frame_interval' is {interval} but there are {len(frames)} "
                        f"frame models (expected {len(frames) + 1})")
    return os.path.join(schedule_dir, manifest["key_model"]), [os.path.join(schedule_dir, f) for f in frames]


def box_from_keypoints(keypoints, scores, threshold, fallback):
    """The bounding box (x, y, w, h) of the keypoints above `threshold` (the previous
    box when fewer than two are)."""
    ok = scores > threshold
    if ok.sum() < 2:
        return fallback
    lo, hi = keypoints[ok].min(0), keypoints[ok].max(0)
    size = np.maximum(hi - lo, 1.0)
    return [float(lo[0]), float(lo[1]), float(size[0]), float(size[1])]


def run_video(schedule_dir, video, box, output=None, threads=1, track=False, threshold=0.0, max_frames=None):
    """Runs a schedule over a video: per frame {"frame", "model", "box", "keypoints", "scores"}."""
    key_path, frame_paths = read_manifest(schedule_dir)
    key = PoseModel(key_path, threads)
    frames = [PoseModel(p, threads) for p in frame_paths]
    for model in frames:
        if not model.takes_heatmaps:
            raise PoseError(f"{model.path}: a frame model takes 'prev_heatmaps'; its inputs are "
                            f"{list(model.inputs)}")
    capture = cv2.VideoCapture(video)
    if not capture.isOpened():
        raise PoseError(f"cannot open video {video}")
    writer, results, prev = None, [], None
    cycle = 1 + len(frames)
    try:
        while max_frames is None or len(results) < max_frames:
            ok, image = capture.read()
            if not ok:
                break
            i = len(results)
            if i == 0:
                check_box_inside(box, image.shape, f"the first frame of {video}")
            model = key if i % cycle == 0 else frames[i % cycle - 1]
            if i % cycle == 0 and track and results:
                box = box_from_keypoints(np.asarray(results[-1]["keypoints"]),
                                         np.asarray(results[-1]["scores"]), threshold, box)
            prev, keypoints, scores = estimate(model, image, box, None if model is key else prev)
            results.append({"frame": i, "model": os.path.basename(model.path), "box": list(box),
                            "keypoints": keypoints.tolist(), "scores": scores.tolist()})
            if output:
                if writer is None:
                    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
                    writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (image.shape[1], image.shape[0]))
                writer.write(draw_pose(image, keypoints, scores, key.meta, threshold, box))
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if not results:
        raise PoseError(f"{video}: no frame could be decoded")
    return results


def parse_box(text):
    try:
        box = [float(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
        raise PoseError(f"--box={text!r}: expected x,y,width,height with width and height > 0")
    return box


def check_box_inside(box, shape, where):
    x, y, w, h = box
    if x >= shape[1] or y >= shape[0] or x + w <= 0 or y + h <= 0:
        raise PoseError(f"--box={','.join(f'{v:g}' for v in box)} lies outside {where} "
                        f"({shape[1]}x{shape[0]} pixels)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help=".tflite pose model (with --image)")
    parser.add_argument("--image", help="image file")
    parser.add_argument("--schedule_dir", help="converted schedule folder (with --video)")
    parser.add_argument("--video", help="video file")
    parser.add_argument("--box", required=True, help="person box x,y,width,height in image pixels")
    parser.add_argument("--output", help="where to write the drawn image or video")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.0, help="draw keypoints scoring above this")
    parser.add_argument("--track", action="store_true", help="video: re-fit the box to the keypoints at key frames")
    parser.add_argument("--max_frames", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print the keypoints as JSON")
    args = parser.parse_args(argv)
    try:
        box = parse_box(args.box)
        if args.image:
            if not args.model:
                raise PoseError("--image needs --model")
            image = cv2.imread(args.image, cv2.IMREAD_COLOR)
            if image is None:
                raise PoseError(f"cannot read image {args.image} (missing or not an image)")
            check_box_inside(box, image.shape, args.image)
            model = PoseModel(args.model, args.threads)
            _, keypoints, scores = estimate(model, image, box)
            if args.output and not cv2.imwrite(args.output, draw_pose(image, keypoints, scores, model.meta,
                                                                      args.threshold, box)):
                raise PoseError(f"cannot write {args.output}")
            result = {"image": args.image, "box": box, "keypoint_names": model.meta["keypoints"].get("names"),
                      "keypoints": keypoints.tolist(), "scores": scores.tolist()}
        elif args.video:
            if not args.schedule_dir:
                raise PoseError("--video needs --schedule_dir")
            frames = run_video(args.schedule_dir, args.video, box, args.output, args.threads, args.track,
                               args.threshold, args.max_frames)
            result = {"video": args.video, "frames": frames}
        else:
            raise PoseError("give --model and --image, or --schedule_dir and --video")
    except PoseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{len(result.get('frames', [result]))} pose(s)" + (f", drawn to {args.output}" if args.output else ""),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
