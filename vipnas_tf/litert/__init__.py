"""The LiteRT harness: run and time .tflite models on the CPU, without TensorFlow.

Only numpy and ai_edge_litert are imported (never TensorFlow or Keras), so the harness
is cheap to import, runs where only the LiteRT runtime is installed, and its
peak-memory probe subprocess stays small. Export (parity checks), the benchmark CLI
and the latency lookup table of the search all run models through it.

- `interpreter`: `load_interpreter`, `run_tflite`, random inputs, (de)quantisation
  of arrays with a tensor's scale / zero point.
- `runners`: `ModelRunner` (one model) and `ScheduleRunner` (a video schedule folder
  with its `manifest.json`: key model + T frame models).
- `timing`: the interleaved timer (`interleaved_times`) and latency statistics.
- `memory`: the peak-memory subprocess probe.
- `benchmark`: `run_benchmark(BenchmarkSpec)`, the report of the benchmark CLI.
- `plots`: the report's bar chart (matplotlib, imported when called).

Shape letters: N batch, H/W height/width, K keypoints.
"""
from vipnas_tf.litert.benchmark import BenchmarkSpec, cpu_flags_hash, describe_machine, machine_info, run_benchmark
from vipnas_tf.litert.interpreter import (dequantize_array, load_interpreter, predict_first_output, quantize_array,
                                          random_input, run_tflite)
from vipnas_tf.litert.memory import peak_memory_kib
from vipnas_tf.litert.plots import plot_results
from vipnas_tf.litert.runners import MANIFEST, ModelRunner, ScheduleRunner, read_manifest
from vipnas_tf.litert.timing import CLOCKS, interleaved_times, latency_stats, measure_interleaved, summarize, time_named

__all__ = ("BenchmarkSpec", "cpu_flags_hash", "describe_machine", "machine_info", "run_benchmark",
           "dequantize_array", "load_interpreter",
           "predict_first_output", "quantize_array", "random_input", "run_tflite", "peak_memory_kib",
           "plot_results", "MANIFEST", "ModelRunner", "ScheduleRunner", "read_manifest", "CLOCKS",
           "interleaved_times", "latency_stats", "measure_interleaved", "summarize", "time_named")
