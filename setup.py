"""vipnas-tf: ViPNAS (CVPR 2021) spatial and temporal NAS for video pose, in TF/Keras."""
import pathlib

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).parent

# Installed commands: vipnas-NAME runs vipnas_tf/cli/NAME.py (through vipnas_tf.cli.console).
CONSOLE_SCRIPTS = [
    "vipnas-search=vipnas_tf.cli.console:search",
    "vipnas-train=vipnas_tf.cli.console:train",
    "vipnas-describe=vipnas_tf.cli.console:describe",
    "vipnas-quickstart=vipnas_tf.cli.console:quickstart",
    "vipnas-infer=vipnas_tf.cli.console:infer",
    "vipnas-benchmark=vipnas_tf.cli.console:benchmark",
    "vipnas-evaluate=vipnas_tf.cli.console:evaluate",
    "vipnas-export=vipnas_tf.cli.console:export",
    "vipnas-convert=vipnas_tf.cli.console:convert",
]


class BuildPyWithConfigs(build_py):
    """Builds the package with the flag files of configs/ as its package data
    vipnas_tf/configs/*.flags: configs/ stays the one source (the recipes and the design
    card point at it), the wheel carries a copy that `--flagfile=NAME` finds."""

    def run(self):
        super().run()
        target = pathlib.Path(self.build_lib) / "vipnas_tf" / "configs"
        self.mkpath(str(target))
        for path in sorted((HERE / "configs").glob("*.flags")):
            self.copy_file(str(path), str(target / path.name))

setup(
    name="vipnas-tf",
    version="0.1.0",
    description=(
        "ViPNAS: weight-sharing super-networks, sandwich training, spatial and "
        "temporal search, and TFLite export for real-time video pose estimation."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["vipnas_tf", "vipnas_tf.*"]),
    include_package_data=True,
    install_requires=[
        # Keras 3 on the TensorFlow backend. tensorflow (not tensorflow-cpu): tf-keras
        # depends on tensorflow, asking for both installs two copies (measured with TF 2.21).
        "tensorflow>=2.16,<2.22",
        "keras>=3.3",
        # The QAT path: TFMOT accepts only tf-keras (Keras 2) models. See BUILD.md.
        "tf-keras>=2.16,<2.22",
        "tensorflow-model-optimization>=0.8",
        # Runs .tflite files (the maintained successor of tf.lite.Interpreter).
        "ai-edge-litert>=1.0",
        "numpy>=1.24",
        "pycocotools>=2.0.6",
        "absl-py>=1.0",
        # Headless build: same cv2 API, no GUI libraries (servers, CI, containers). The
        # contrib build: OpenCV 5 ships the HOG people detector (the video runner's default
        # person detector) only there. It replaces opencv-python-headless (same cv2 module).
        "opencv-contrib-python-headless>=4.8",
        "matplotlib>=3.6",
        "tqdm>=4.60",
    ],
    extras_require={
        # torch: the mmpose checkpoint import parity test (tests/interop) builds PyTorch
        # twins. Pinned: on the project's machines 2.13.0 resolves to the local CPU wheel
        # (~40 s install); an unpinned torch resolves to a multi-GB CUDA build.
        "test": ["pytest>=7", "pytest-timeout>=2.1", "pytest-xdist>=3.5", "torch==2.13.0"],
        "dev": ["pytest>=7", "pytest-timeout>=2.1", "pytest-xdist>=3.5", "torch==2.13.0", "build", "ruff"],
        # Optional: reading mmpose .pth checkpoints (scripts/import_mmpose.py); any
        # build works, a CPU one is enough.
        "torch": ["torch>=2.1"],
        # Optional: keras-cv brings nothing the pipeline needs (see BUILD.md).
        "keras-cv": ["keras-cv>=0.9"],
    },
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
    cmdclass={"build_py": BuildPyWithConfigs},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
