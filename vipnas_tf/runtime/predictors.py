"""Models as `vipnas_tf.evaluation.Predictor`s, for the test protocol (`run_evaluation`).

- `predictor_of_model_dir(model_dir, arch, input_size)`: a model directory's static model
  (`export.deploy.load_static_model`), one frame at a time.
- `predictor_of_schedule(path, input_size)`: a video schedule along a track: the key model
  on every (T + 1)-th box, frame model t on the t-th box after it, fed the previous
  heatmaps warped into its crop.
"""
import numpy as np
import tensorflow as tf

from vipnas_tf.evaluation.protocol import Predictor
from vipnas_tf.export.deploy import load_schedule, load_static_model
from vipnas_tf.temporal.warp import warp_previous_heatmaps


def predictor_of_model_dir(model_dir, arch=None, input_size=None):
    """A single-frame Predictor of a model directory's static model."""
    loaded = load_static_model(arch, model_dir, input_size)
    model = loaded.model
    spec = tf.TensorSpec([None, *loaded.input_size, 3], tf.float32)  # one trace for every batch size
    predict = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return Predictor(loaded.input_size, predict_fn=lambda x: predict(tf.convert_to_tensor(x, tf.float32)),
                     keypoint_layout=loaded.keypoint_layout, source=f"model_dir {model_dir}")


def predictor_of_schedule(path, input_size=None):
    """A track Predictor of a schedule: the key model on every (T + 1)-th box of a track,
    frame model t on the t-th box after it, fed the previous heatmaps warped into its crop."""
    loaded = load_schedule(path, input_size)
    size = tuple(loaded.input_size)
    key_model = loaded.key.model
    key = tf.function(lambda x: key_model(x, training=False))
    frames = []
    for i in range(loaded.schedule.num_frames):
        m = loaded.frame_model(i)
        frames.append(tf.function(lambda x, p, m=m: m([x, p], training=False)))

    def track_fn(images, matrices):
        out, prev = [], None
        for t in range(len(images)):
            x = tf.convert_to_tensor(images[t:t + 1], tf.float32)
            position = t % (len(frames) + 1)
            if position == 0:
                prev = key(x)
            else:
                warped = warp_previous_heatmaps(prev, matrices[t - 1:t], matrices[t:t + 1], size)
                prev = frames[position - 1](x, tf.cast(warped, tf.float32))
            out.append(prev.numpy())
        return np.concatenate(out, axis=0)

    return Predictor(size, track_fn=track_fn, keypoint_layout=loaded.schedule.keypoint_layout,
                     source=f"the schedule {path}")
