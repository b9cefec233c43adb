"""Real input crops from the project's input pipeline, for calibration, QAT and parity.

int8 calibration, QAT fine-tuning and the parity report all want real normalised
crops: `coco_dataset` is `make_topdown_dataset` over a COCO keypoints file,
`take_images` draws crops from it, and `chain_inputs` gives each model of a schedule
cycle its inputs (frame models also get the previous model's float heatmaps).
"""
import os
from typing import List, Sequence

import keras
import numpy as np

from vipnas_tf.data import load_coco
from vipnas_tf.data.pipeline import make_topdown_dataset
from vipnas_tf.export.parity import predict_keras


def coco_dataset(ann_file, image_root, input_size, batch_size=8, training=False, seed=0):
    """`make_topdown_dataset` over a COCO keypoints file (validation mode by default)."""
    samples = load_coco(ann_file, image_root)
    if len(samples):
        first = str(samples.image_paths[0])
        if not os.path.isfile(first):
            # A training pipeline skips unreadable images and would spin forever.
            raise ValueError(f"{ann_file}: image {first} not found; is --image_root "
                             f"({image_root}) the folder the file_names are relative to?")
    return make_topdown_dataset(samples, tuple(input_size), batch_size=batch_size,
                                training=training, seed=seed)


def take_images(dataset, limit: int) -> np.ndarray:
    """Up to `limit` normalised crops [n, H, W, 3] float32 from a pipeline of dicts."""
    out, n = [], 0
    for batch in dataset:
        images = batch["image"].numpy() if isinstance(batch, dict) else np.asarray(batch)
        out.append(images[: limit - n])
        n += len(out[-1])
        if n >= limit:
            break
    if not out:
        raise ValueError("the data pipeline yielded no crops")
    return np.concatenate(out).astype(np.float32)


def chain_inputs(models: Sequence[keras.Model], images: np.ndarray, batch_size: int = 8
                 ) -> List[List[np.ndarray]]:
    """Inputs of each model of a schedule cycle run on still crops.

    models[0] is the key model (image -> heatmaps); models[i > 0] take (image,
    previous heatmaps) and get the float output of models[i - 1] on the same crops.

    Returns:
        per model, the list of its input arrays ([images] or [images, prev heatmaps]).
    """
    inputs, prev = [], None
    for i, m in enumerate(models):
        args = [images] if i == 0 else [images, prev]
        inputs.append(args)
        prev = predict_keras(m, args, batch_size)
    return inputs
