"""Super-networks, static builders and extraction."""
from vipnas_tf.models import hrnet_supernet, mobilenetv3_supernet, resnet_supernet  # noqa: F401  (registration)
from vipnas_tf.models.static_builders import build_static  # noqa: F401
from vipnas_tf.models.supernet import SUPERNETS, SuperNetwork, build_supernet  # noqa: F401
