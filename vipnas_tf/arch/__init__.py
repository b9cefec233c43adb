"""Architectures as values: search spaces, presets, cost model (no TensorFlow here)."""
from vipnas_tf.arch.arch import Arch, HeadArch, StageArch, load_arch, parse_arch, save_arch  # noqa: F401
from vipnas_tf.arch.describe import arch_cost, describe  # noqa: F401
from vipnas_tf.arch.presets import get_preset, list_presets, resolve_arch  # noqa: F401
from vipnas_tf.arch.space import get_space, list_spaces  # noqa: F401
from vipnas_tf.arch import hrnet_space, mobilenetv3_space, resnet50_space  # noqa: F401,E402  (registration of the spaces)
