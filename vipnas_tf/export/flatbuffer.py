"""A .tflite flatbuffer as the TFLite schema's object API (`ModelT`), and back."""
from tensorflow.lite.tools import flatbuffer_utils


def read_model(flatbuffer: bytes):
    """The `schema.ModelT` of a flatbuffer."""
    return flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))


def write_model(model) -> bytes:
    """The flatbuffer of a `schema.ModelT`."""
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def decode_name(value) -> str:
    """A name field of the object API (bytes or str) as str."""
    return value.decode("utf-8") if isinstance(value, bytes) else value
