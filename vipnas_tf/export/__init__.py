"""Static Keras model -> deployable files, one module per idea.

- `deploy`: loading what to export (model directories, random init, schedules).
- `lowering/`: the deployment rewrite (grouped conv, deconv, depthwise bands,
  hard-swish, BN folding; `lower_model`).
- `quantization`: `QuantizationConfig` (float32 / float16 / dynamic / int8) and
  representative data.
- `tflite_export`: Keras -> .tflite (`export_tflite`, `export_quantized`).
- `requantization`: int8 output scales left degenerate by calibration, floored so XNNPACK
  can build the model.
- `qat/`: quantization-aware training (rebuild as tf-keras, annotate, calibrate, fine-tune).
- `convert`: lowering + conversion in every mode + parity report (`convert`).
- `parity`: .tflite vs Keras heatmaps and keypoints.
- `data`: real crops from the input pipeline for calibration, QAT and parity.
- `schedule_export`: a video schedule to a folder of .tflite files and its manifest.
- `savedmodel`: the SavedModel export.

Running and timing .tflite files is `vipnas_tf.litert` (no TensorFlow).
"""
