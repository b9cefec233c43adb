"""Console scripts (setup.py `entry_points`): one function per installed command."""
from vipnas_tf.cli import run


def describe():
    run("describe")


def quickstart():
    run("quickstart")


def infer():
    run("infer")


def benchmark():
    run("benchmark")


def evaluate():
    run("evaluate")


def export():
    run("export")


def convert():
    run("convert")


def train():
    run("train")


def search():
    run("search")
