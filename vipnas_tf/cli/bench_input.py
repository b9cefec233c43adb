"""Measures the training input pipeline: augmented crops per second.

  python scripts/bench_input.py --json

By default generates a small synthetic COCO set in a temporary folder; pass
--ann_file/--image_root to measure on your own COCO-format data.
"""
import json
import os
import tempfile
import time

from absl import app, flags

from vipnas_tf.data.coco import load_coco
from vipnas_tf.data.pipeline import make_topdown_dataset
from vipnas_tf.data.synthetic import generate, training_paths

FLAGS = flags.FLAGS
flags.DEFINE_string("ann_file", None, "COCO keypoints file (default: synthetic set).")
flags.DEFINE_string("image_root", None, "Image folder of --ann_file.")
flags.DEFINE_integer("synthetic_images", 300, "Synthetic images to generate when no data is given.")
flags.DEFINE_list("input_size", ["256", "192"], "Crop size H,W.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("warmup_batches", 5, "Batches before timing starts.")
flags.DEFINE_integer("batches", 40, "Timed batches.")
flags.DEFINE_integer("seed", 0, "Pipeline seed.")
flags.DEFINE_bool("json", False, "Print the result as JSON.")


def main(argv):
    del argv

    input_size = tuple(int(v) for v in FLAGS.input_size)
    with tempfile.TemporaryDirectory() as tmp:
        if FLAGS.ann_file:
            ann_file, image_root = FLAGS.ann_file, FLAGS.image_root
        else:

            generate(tmp, images=FLAGS.synthetic_images, clips=0, seed=FLAGS.seed, progress=False)
            paths = training_paths(tmp, "coco")
            ann_file, image_root = paths["train_ann"], paths["train_images"]
        samples = load_coco(ann_file, image_root)
        ds = make_topdown_dataset(samples, input_size, FLAGS.batch_size, training=True,
                                  seed=FLAGS.seed)
        it = iter(ds)
        for _ in range(FLAGS.warmup_batches):
            next(it)
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(FLAGS.batches):
            batch = next(it)
        batch["image"].numpy()
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        skipped = ds.pipeline_stats.skipped
        # Stop the prefetching threads before the temporary images are deleted.
        del it, ds, batch
    crops = FLAGS.batches * FLAGS.batch_size
    # The wall-clock rate depends on what else runs on the machine; the rate per CPU
    # second (all threads of this process) does not: on an idle machine whose cores
    # the pipeline keeps busy the wall-clock rate approaches it times the core count.
    result = {"crops_per_second": round(crops / seconds, 1),
              "crops_per_cpu_second": round(crops / max(cpu_seconds, 1e-9), 1),
              "load_average_1min": round(os.getloadavg()[0], 2), "crops": crops,
              "seconds": round(seconds, 3), "input_size": list(input_size),
              "batch_size": FLAGS.batch_size, "persons": len(samples),
              "data": "synthetic" if not FLAGS.ann_file else FLAGS.ann_file,
              "cpu_count": os.cpu_count(), "skipped_images": skipped}
    if FLAGS.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['crops_per_second']} crops/s at {input_size[0]}x{input_size[1]}")


if __name__ == "__main__":
    app.run(main)
