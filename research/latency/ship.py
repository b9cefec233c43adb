"""Ship a latency search's result: a preset file or a schedule file, provenance beside it.

  python research/latency/ship.py --search=runs/search_mbv3_dense_ms_int8 --preset=fast_mbv3_int8 \
      --latency_table=runs/latency/CPU/mobilenetv3_dense_256x192_int8_1t.json --out=vipnas_tf/arch/shipped
  python research/latency/ship.py --search=runs/schedule_fast_mbv3_T3_int8 \
      --out=configs/schedules/fast_mbv3_T3_int8.json

(`vipnas_tf/search/latency_ship.py`: the formats; `vipnas_tf.arch.presets.register_preset_folder`
makes the preset files of a folder presets, and those of `vipnas_tf/arch/shipped/` are presets already.)
"""
import sys

from absl import app, flags

from vipnas_tf.search import latency_ship

FLAGS = flags.FLAGS
flags.DEFINE_string("search", None, "A finished spatial (with --preset) or temporal search folder.", required=True)
flags.DEFINE_string("preset", "", "Preset name: ship the spatial search's best architecture as OUT/NAME.json.")
flags.DEFINE_string("out", None, "Preset folder (--preset) or the schedule file to write.", required=True)
flags.DEFINE_string("latency_table", "", "The table the search used (its provenance goes beside the result).")
flags.DEFINE_string("date", "", "Date of the provenance (default today).")
flags.DEFINE_string("note", "", "What the super-network or temporal model was trained on (the description of a "
                    "preset, a field of a schedule's provenance).")


def main(argv):
    del argv
    try:
        if FLAGS.preset:
            path = latency_ship.ship_preset(FLAGS.search, FLAGS.preset, FLAGS.out, FLAGS.latency_table or None,
                                            FLAGS.date or None, FLAGS.note)
        else:
            path = latency_ship.ship_schedule(FLAGS.search, FLAGS.out, FLAGS.latency_table or None, FLAGS.date or None,
                                              FLAGS.note)
    except ValueError as e:
        sys.exit(f"ship.py: {e}")
    print(path)


if __name__ == "__main__":
    app.run(main)
