"""Model directories for tests: the layout `scripts/train.py` writes, without training.

Search, export and inference read model directories; their tests need one quickly.
`make_supernet_dir` writes an untrained (or randomised) super-network checkpoint with
the run config of a `--mode=supernet` run, so those tools run for real on it.
"""
import os

import tensorflow as tf

from vipnas_tf.models import build_supernet
from vipnas_tf.models.random_init import randomize_weights
from vipnas_tf.training.model_dir import model_checkpoint
from vipnas_tf.utils import io as io_utils


def make_supernet_dir(model_dir, space="mobilenetv3", input_size=(64, 64), data=None, mode="supernet",
                      arch=None, randomize=False, seed=0, keypoint_layout="coco"):
    """Writes MODEL_DIR/run_config.json and MODEL_DIR/ckpt/ckpt-1; returns the network.

    `keypoint_layout` is recorded as a training run records its annotations' layout
    (None: left out, as in a run without the field)."""
    net = build_supernet(space, input_size=tuple(input_size))
    if randomize:
        randomize_weights(net, seed)
    os.makedirs(model_dir, exist_ok=True)
    config = {"mode": mode, "space": net.space.name, "input_size": list(input_size),
              "arch": arch.to_string() if arch is not None else None, "eval_max_persons": 0}
    if keypoint_layout is not None:
        config["keypoint_layout"] = keypoint_layout
    config.update(data or {})
    io_utils.write_json(os.path.join(model_dir, "run_config.json"), config)
    manager = tf.train.CheckpointManager(model_checkpoint(net), os.path.join(model_dir, "ckpt"), 1)
    manager.save(checkpoint_number=1)
    return net
