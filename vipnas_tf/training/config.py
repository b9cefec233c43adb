"""TrainConfig: every setting of a training run, as plain values (no global flags)."""
import dataclasses
import os
from typing import Optional, Tuple

from vipnas_tf.arch.arch import parse_arch
from vipnas_tf.arch.presets import resolve_arch
from vipnas_tf.arch.space import get_space
from vipnas_tf.data.transforms import AugmentConfig
from vipnas_tf.data.formats import DATA_FORMATS
from vipnas_tf.training.init import KERNEL_INITS
from vipnas_tf.utils.io import read_json

MODES = ("supernet", "standalone", "temporal")
SCHEDULES = ("step", "cosine", "constant")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "bfloat16", "float16")


# Fields holding paths of data or other runs (recorded absolute in run_config.json).
PATH_FIELDS = ("train_ann", "train_images", "val_ann", "val_images", "init_from", "key_model_dir")


@dataclasses.dataclass
class TrainConfig:
    """Settings of `Trainer` (scripts/train.py maps its flags onto these).

    Attributes:
      mode: "supernet" (sandwich rule over a space), "standalone" (one fixed `arch`),
        "temporal" (T-ViPNet propagation model over clips).
      space: search space name (mobilenetv3, resnet50, hrnet_w32).
      arch: stand-alone architecture (preset name, compact string or JSON path); for
        "temporal", the key frame's S-ViPNet architecture (default: the one of
        `key_model_dir`).
      input_size: (H, W), multiples of 32.
      batch_size: global batch size (split over replicas).
      train_steps: optimizer steps; 0 = `epochs` x steps per epoch.
      epochs: used when train_steps is 0 (steps per epoch = train persons / batch).
      learning_rate: Adam base learning rate (paper: 1e-3).
      lr_schedule: "step" (x`lr_decay_factor` at `lr_decay_at` fractions of training;
        the paper's epochs 200 and 230 of 250 are 0.8 and 0.92), "cosine", "constant".
      warmup_steps: linear warm-up.
      num_random: N random sandwich members (paper: 2).
      distill: in-place distillation from the biggest.
      distill_start: step at which in-place distillation starts (0 = from the start,
        the paper's recipe); before it, every member learns from the ground truth only.
      random_start: step at which the N random members join the sandwich (0 = from the
        start, the paper's recipe); before it only the biggest and the smallest train.
      seed: seeds data order, augmentation, sampling and kernel initialisation.
      kernel_init: "paper" (N(0, 0.001), Sec. 4.2) or "he" (He normal except the heatmap
        output conv and the fusion module; for short budgets: see
        `vipnas_tf.training.init`). Applies to a fresh run only, not to a resumed or
        `init_from` one.
      strategy: "default", "mirrored", "multi_worker" (TF_CONFIG), "tpu".
      tpu: TPU address for strategy "tpu".
      communication_timeout: multi_worker: seconds a collective may wait for the other
        workers before the run stops (0: no bound). Set it above the longest pause of
        the chief (validation, a checkpoint) so a dead worker stops the others.
      mixed_precision: "float32", "bfloat16" or "float16" (Keras' mixed policy:
        float32 variables, low-precision compute; losses in float32; float16 with
        dynamic loss scaling).
      jit_compile: compile the training step with XLA (mode "standalone" only: the
        sandwich step slices kernels by tensor widths, which XLA does not compile).
      checkpoint_every: steps between checkpoints (and at the end).
      keep_checkpoints: checkpoints kept.
      log_every: steps between metrics.jsonl / TensorBoard records.
      eval_every: steps between validation AP (0 = only at the end; -1 = never).
      eval_max_persons: validation subset size (0 = all; COCO validation only, a
        PoseTrack18 val set is scored whole).
      bn_calib_batches: K batches of BN re-calibration before evaluating a sub-network.
      train_ann, train_images, val_ann, val_images: annotations and image roots: a COCO
        keypoints file, or PoseTrack18 annotations (a folder of per-video JSON files as
        released, or one merged file); temporal: PoseTrack18 only. The keypoint layout
        of the run ("coco" or "posetrack18", `run_config.json`'s `keypoint_layout`) is
        the training annotations'; a PoseTrack18-layout run validates with PoseTrack
        mAP (PCKh@0.5), a COCO-layout one with COCO OKS AP.
      data_format: "auto" (tell COCO from PoseTrack18 by the content), "coco" or
        "posetrack".
      init_from: model_dir whose weights initialise this run (stand-alone fine-tuning
        from a super-network, or from a COCO-trained S-ViPNet into a PoseTrack18 run:
        heatmap channels mapped by `vipnas_tf.codecs.layout_mapping`). A "static"
        directory (imported mmpose weights, `scripts/import_mmpose.py`) initialises a
        stand-alone run of its architecture (`arch` may be omitted): the run's
        super-network pads as the directory's architecture does (`padding`).
      key_model_dir: temporal: the S-ViPNet for key frames: a stand-alone run, or a
        "static" directory of an architecture of `space` (imported mmpose weights).
      num_frames: temporal: T non-key frames per clip.
      fusion: temporal: use the fusion module (False: the frame-wise ablation).
      augment: training augmentation on (False: plain crops, whatever the fields below).
      rotation_deg, rotation_prob: random rotation uniform in [-rotation_deg,
        rotation_deg] with probability rotation_prob (paper Sec. 4.2: [-40, 40]; the
        probability 0.6 is mmpose's, the paper does not state one).
      flip_prob: random horizontal flip (paper: random flip; 0.5).
      scale_range: random box-size factor (lo, hi); beyond the paper (0.75, 1.25).
      half_body_prob: half-body crops (beyond the paper; mmpose's 0.3).
      Temporal clips draw one transform per clip for all T + 1 frames (paper Sec. 4.2),
      half-body on every frame or none, each frame cut around its own box.
      max_bad_batches: consecutive failing batches tolerated before giving up.
    """

    mode: str = "supernet"
    space: str = "mobilenetv3"
    arch: Optional[str] = None
    input_size: Tuple[int, int] = (256, 192)
    batch_size: int = 32
    train_steps: int = 0
    epochs: float = 250.0
    learning_rate: float = 1e-3
    lr_schedule: str = "step"
    lr_decay_at: Tuple[float, ...] = (0.8, 0.92)
    lr_decay_factor: float = 0.1
    warmup_steps: int = 0
    num_random: int = 2
    distill: bool = True
    distill_start: int = 0
    random_start: int = 0
    seed: int = 0
    kernel_init: str = "paper"
    strategy: str = "default"
    tpu: str = ""
    communication_timeout: float = 0.0
    mixed_precision: str = "float32"
    jit_compile: bool = False
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 50
    eval_every: int = 0
    eval_max_persons: int = 0
    bn_calib_batches: int = 16
    train_ann: str = ""
    train_images: str = ""
    val_ann: str = ""
    val_images: str = ""
    data_format: str = "auto"
    init_from: str = ""
    key_model_dir: str = ""
    num_frames: int = 3
    fusion: bool = True
    augment: bool = True
    rotation_deg: float = 40.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    scale_range: Tuple[float, float] = (0.75, 1.25)
    half_body_prob: float = 0.3

    def augment_config(self):
        """The AugmentConfig of the training pipeline (`AugmentConfig.none()` without augment)."""
        if not self.augment:
            return AugmentConfig.none()
        return AugmentConfig(flip_prob=self.flip_prob, scale_range=tuple(self.scale_range),
                             rotation_deg=self.rotation_deg, rotation_prob=self.rotation_prob,
                             half_body_prob=self.half_body_prob)

    def validate(self):
        """Raises ValueError naming the bad setting (called before any training)."""
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision must be one of {PRECISIONS}, got {self.mixed_precision!r}")
        if self.jit_compile and self.mode != "standalone":
            raise ValueError(f"jit_compile needs mode 'standalone', got mode {self.mode!r}: XLA cannot compile "
                             f"a convolution whose channel count is a tensor (the sampled widths of the "
                             f"super-network's sandwich step)")
        if self.communication_timeout < 0:
            raise ValueError(f"communication_timeout must be >= 0 seconds, got {self.communication_timeout}")
        h, w = self.input_size
        if h % 32 or w % 32 or h <= 0 or w <= 0:
            raise ValueError(f"input_size must be positive multiples of 32, got {h}x{w}")
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.train_steps < 0 or (self.train_steps == 0 and self.epochs <= 0):
            raise ValueError("set train_steps > 0 or epochs > 0")
        if self.mode == "standalone" and not self.arch and not (self.init_from and _run_mode(self.init_from) == "static"):
            raise ValueError("mode 'standalone' needs arch (a preset name, arch string or JSON file)")
        if self.mode == "temporal" and not self.key_model_dir:
            raise ValueError("mode 'temporal' needs key_model_dir (a trained S-ViPNet model_dir)")
        if self.mode == "temporal" and self.num_frames < 1:
            raise ValueError(f"num_frames (T) must be >= 1, got {self.num_frames}")
        if self.data_format not in DATA_FORMATS:
            raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {self.data_format!r}")
        if self.kernel_init not in KERNEL_INITS:
            raise ValueError(f"kernel_init must be one of {KERNEL_INITS}, got {self.kernel_init!r}")
        if self.distill_start < 0:
            raise ValueError(f"distill_start must be >= 0, got {self.distill_start}")
        if self.random_start < 0:
            raise ValueError(f"random_start must be >= 0, got {self.random_start}")
        for name in ("rotation_prob", "flip_prob", "half_body_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        if not 0.0 <= self.rotation_deg <= 180.0:
            raise ValueError(f"rotation_deg must be in [0, 180] degrees, got {self.rotation_deg}")
        lo, hi = self.scale_range
        if not 0.0 < lo <= hi:
            raise ValueError(f"scale_range must be (lo, hi) with 0 < lo <= hi, got {tuple(self.scale_range)}")
        if self.checkpoint_every <= 0 or self.log_every <= 0:
            raise ValueError("checkpoint_every and log_every must be positive")
        for name in ("train_ann", "train_images"):
            value = getattr(self, name)
            if not value:
                raise ValueError(f"{name} is required (path of the training data)")
            if not os.path.exists(value):
                raise ValueError(f"{name}: {value!r} does not exist")
        for name in ("val_ann", "val_images", "init_from", "key_model_dir"):
            value = getattr(self, name)
            if value and not os.path.exists(value):
                raise ValueError(f"{name}: {value!r} does not exist")
        for name in ("init_from", "key_model_dir"):
            value = getattr(self, name)
            if value and _run_mode(value) == "static":
                self._check_static_dir(name, value)
        if self.eval_every >= 0 and self.val_ann == "" and self.mode != "temporal":
            # evaluation silently skipped is a trap: make it explicit
            raise ValueError("val_ann is required for validation (or set eval_every=-1)")
        return self

    def _check_static_dir(self, name, model_dir):
        """A "static" directory (imported weights) as `init_from` / `key_model_dir`: its
        architecture must be a point of `space` (the run trains it inside the space's
        super-network) and, for `init_from`, the run's `arch`."""
        if name == "init_from" and self.mode != "standalone":
            raise ValueError(f"init_from: {model_dir!r} is a 'static' model directory (one network, e.g. imported "
                             f"mmpose weights), which initialises a --mode=standalone run of its architecture, "
                             f"not a {self.mode!r} run")
        arch = static_dir_arch(model_dir)
        where = f"{name}: {os.path.join(model_dir, 'run_config.json')}"
        if arch.space != self.space:
            raise ValueError(f"{where}: field 'arch' is an architecture of space {arch.space!r}, this run's space "
                             f"is {self.space!r} (set --space={arch.space})")
        try:
            get_space(self.space).validate(arch)
        except ValueError as e:
            raise ValueError(f"{where}: field 'arch' {arch.to_string()} is not a point of the {self.space} search "
                             f"space, so no super-network run can hold it ({e}); fine-tune it as a Keras model "
                             f"instead: scripts/export_savedmodel.py --model_dir={model_dir} --keras=MODEL.keras, "
                             "then keras.saving.load_model, compile and fit (docs/model_directory.md)") from None
        if name == "init_from" and self.arch:
            mine = resolve_arch(self.arch)
            if dataclasses.replace(mine, padding=arch.padding) != arch:
                raise ValueError(f"arch {self.arch!r} ({mine.to_string()}) is not the architecture of init_from "
                                 f"{model_dir!r} ({arch.to_string()}); pass --arch={arch.to_string()} or leave "
                                 "--arch out")

    def with_absolute_paths(self):
        """The same config with every data and model path made absolute, so that the
        run_config.json written from it serves from any working directory."""
        return dataclasses.replace(self, **{name: os.path.abspath(getattr(self, name)) for name in PATH_FIELDS
                                            if getattr(self, name)})

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        d["lr_decay_at"] = list(self.lr_decay_at)
        d["scale_range"] = list(self.scale_range)
        return d

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {unknown}")
        d = dict(d)
        if "input_size" in d:
            d["input_size"] = tuple(d["input_size"])
        for key in ("lr_decay_at", "scale_range"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _run_mode(model_dir):
    """The `mode` in `model_dir`'s run_config.json, or None when it has none."""
    path = os.path.join(model_dir, "run_config.json")
    return read_json(path).get("mode") if os.path.isfile(path) else None


def static_dir_arch(model_dir):
    """The architecture of a "static" model directory (its run_config.json's `arch`,
    with its padding); ValueError naming the file and the field otherwise."""
    path = os.path.join(model_dir, "run_config.json")
    text = read_json(path).get("arch")
    if not text:
        raise ValueError(f"{path}: a 'static' model directory needs the field 'arch'")
    try:
        return parse_arch(str(text))
    except ValueError as e:
        raise ValueError(f"{path}: field 'arch': {e}") from None


def padding_of_run(model_dir):
    """How the networks of a model directory pad: a "static" directory's architecture's
    padding, else run_config.json's `padding` (absent: "same", every run written before
    the field existed)."""
    if _run_mode(model_dir) == "static":
        return static_dir_arch(model_dir).padding
    path = os.path.join(model_dir, "run_config.json")
    return read_json(path).get("padding", "same") if os.path.isfile(path) else "same"
