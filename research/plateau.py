r"""How long does a network trained from scratch sit on the mean-pose plateau?

Trains ONE network with plain Adam on target-weighted heatmap MSE (the loss of the
super-network training, without the sandwich) on a COCO-format data set, and prints
the validation AP (pycocotools, a val subset) every `--eval_every` steps, one JSON
object per line. The network is either an architecture of a search space, run through
the super-network with that architecture fixed (exactly what `--mode=standalone`
trains), or a plain control CNN (3x3 conv-BN-ReLU, no attention, no grouped convs):

  - `cnn16`: output stride 16, two nearest-upsampling + 3x3 conv steps (like a U-less
    hourglass),
  - `cnn32`: output stride 32, three stride-2 transposed convs (SimpleBaseline's head).

  python research/plateau.py --arch=s_vipnas_mbv3 --data=runs/syn4k/coco \
      --input_size=64x64 --steps=600
  python research/plateau.py --arch=cnn32 --data=runs/syn4k/coco --steps=1200

It answers "is a near-zero AP a bug or a budget?" (research/README.md, "The mean-pose
plateau"): the loss stays flat at the mean-pose value and AP ~0 until the network starts
to localise, after a number of steps that depends on the architecture and on the kernel
initialisation (`--init`).
"""
import json
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
flags.DEFINE_string("arch", "s_vipnas_mbv3", "cnn16, cnn32, 'max', 'min', a preset name or an arch string.")
flags.DEFINE_string("space", "mobilenetv3", "Search space of --arch (max/min/preset/string).")
flags.DEFINE_string("data", None, "COCO-format folder with annotations/person_keypoints_{train,val}.json "
                    "and images/{train,val} (e.g. a synthetic data set's coco/).", required=True)
flags.DEFINE_string("input_size", "64x64", "HxW.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("steps", 600, "Optimizer steps.")
flags.DEFINE_float("learning_rate", 2e-3, "Adam learning rate (constant).")
flags.DEFINE_float("sigma", 2.0, "Heatmap Gaussian sigma (heatmap pixels).")
flags.DEFINE_integer("eval_every", 100, "Steps between validation APs.")
flags.DEFINE_integer("eval_persons", 200, "Validation subset size (persons).")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_float("epsilon", 1e-7, "Adam epsilon (Keras default 1e-7).")
flags.DEFINE_enum("init", "paper", ["paper", "he"], "Kernel initialisation of a space network "
                  "(vipnas_tf.training.init): the paper's N(0, 0.001), or He normal except the output conv.")


def control_cnn(kind, input_size, num_keypoints):
    """A plain conv-BN-ReLU pose network with output stride 16 or 32 (heatmaps at 1/4)."""
    import keras  # pylint: disable=import-outside-toplevel

    def block(x, c, s):
        x = keras.layers.Conv2D(c, 3, s, padding="same", use_bias=False)(x)
        return keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))

    inp = keras.Input(tuple(input_size) + (3,))
    x = inp
    widths = (32, 64, 128, 128) + ((160,) if kind == "cnn32" else ())
    for c in widths:
        x = block(block(x, c, 2), c, 1)
    if kind == "cnn32":
        for _ in range(3):
            x = keras.layers.Conv2DTranspose(128, 4, 2, padding="same", use_bias=False)(x)
            x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))
    else:
        for c in (96, 64):
            x = block(keras.layers.UpSampling2D(2)(x), c, 1)
    model = keras.Model(inp, keras.layers.Conv2D(num_keypoints, 1)(x), name=kind)
    return lambda images, training: model(images, training=training), model.trainable_variables


def space_network(space_name, spec, input_size):
    """The super-network with one architecture fixed: (forward, variables)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from vipnas_tf.arch import get_space, resolve_arch  # pylint: disable=import-outside-toplevel
    from vipnas_tf.models import build_supernet  # pylint: disable=import-outside-toplevel

    space = get_space(space_name)
    arch = {"max": space.max, "min": space.min}.get(spec, lambda: resolve_arch(spec))()
    space.validate(arch)
    vector = tf.constant(space.encode(arch).astype("int32"))
    model = build_supernet(space, input_size=input_size)
    model(tf.zeros((1,) + tuple(input_size) + (3,)), arch=vector, training=False)
    from vipnas_tf.training.init import initialize_kernels  # pylint: disable=import-outside-toplevel

    initialize_kernels(model, FLAGS.init, FLAGS.seed)
    return (lambda images, training: model(images, arch=vector, training=training)), model.trainable_variables


def main(argv):
    del argv
    import keras  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from vipnas_tf.arch.cost import parse_input_size  # pylint: disable=import-outside-toplevel
    from vipnas_tf.codecs.heatmap import HeatmapCodec  # pylint: disable=import-outside-toplevel
    from vipnas_tf.data.coco import load_coco  # pylint: disable=import-outside-toplevel
    from vipnas_tf.data.pipeline import make_topdown_dataset  # pylint: disable=import-outside-toplevel
    from vipnas_tf.data.transforms import AugmentConfig  # pylint: disable=import-outside-toplevel
    from vipnas_tf.evaluation.coco import CocoEvaluator  # pylint: disable=import-outside-toplevel
    from vipnas_tf.training.losses import keypoint_mse  # pylint: disable=import-outside-toplevel

    size = parse_input_size(FLAGS.input_size)
    ann = lambda split: os.path.join(FLAGS.data, "annotations", f"person_keypoints_{split}.json")  # noqa: E731
    images = lambda split: os.path.join(FLAGS.data, "images", split)  # noqa: E731
    keras.utils.set_random_seed(FLAGS.seed)
    codec = HeatmapCodec(size, sigma=FLAGS.sigma)
    train = load_coco(ann("train"), images("train"))
    ds = make_topdown_dataset(train, size, FLAGS.batch_size, training=True, seed=FLAGS.seed, codec=codec,
                              augment=AugmentConfig.none())
    if FLAGS.arch in ("cnn16", "cnn32"):
        forward, variables = control_cnn(FLAGS.arch, size, train.info.num_keypoints)
    else:
        forward, variables = space_network(FLAGS.space, FLAGS.arch, size)
    evaluator = CocoEvaluator.subset(ann("val"), images("val"), FLAGS.eval_persons, input_size=size)
    optimizer = keras.optimizers.Adam(FLAGS.learning_rate, epsilon=FLAGS.epsilon)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keypoint_mse(forward(batch["image"], True), batch["heatmaps"],
                                               batch["target_weight"]))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    predict = tf.function(lambda x: forward(x, False))
    print(json.dumps({"arch": FLAGS.arch, "step": 0, "AP": round(evaluator.evaluate(predict)["AP"], 4)}), flush=True)
    batches, losses, t0 = iter(ds), [], time.time()
    for n in range(1, FLAGS.steps + 1):
        losses.append(float(step(next(batches))))
        if n % FLAGS.eval_every == 0 or n == FLAGS.steps:
            print(json.dumps({"arch": FLAGS.arch, "step": n, "seconds": round(time.time() - t0, 1),
                              "loss_x1e4": round(float(np.mean(losses[-FLAGS.eval_every:])) * 1e4, 2),
                              "AP": round(evaluator.evaluate(predict)["AP"], 4)}), flush=True)


if __name__ == "__main__":
    app.run(main)
