"""The command-line layer: one module per command, each with `main(argv)` for absl.app.

    vipnas-describe --arch=s_vipnas_mbv3 --json
    python -m vipnas_tf describe --arch=s_vipnas_mbv3 --json      # the same
    python scripts/describe.py --arch=s_vipnas_mbv3 --json         # the same, from a clone

Console scripts (setup.py `entry_points`) call the functions of `vipnas_tf.cli.console`;
`python -m vipnas_tf COMMAND` (`vipnas_tf/__main__.py`) and the `scripts/` and `tflite/`
aliases call `run(COMMAND)`. absl's FLAGS is global, so `run` imports only the one
command's module: only that command's flags are defined.

`--flagfile=NAME` also finds the flag files shipped with the package (`configs/` of the
source tree, installed as `vipnas_tf/configs/`): `--flagfile=quickstart_supernet`,
`--flagfile=quickstart_supernet.flags` and `--flagfile=configs/quickstart_supernet.flags`
all resolve to it when no such file exists from the working directory. A path that
exists is always read as given.
"""
import collections
import importlib
import os
import sys

from absl import app

Command = collections.namedtuple("Command", ["module", "console", "summary"])

# name -> (module under vipnas_tf/cli/, console script or None, one-line summary)
COMMANDS = {
    "train": Command("train", "vipnas-train", "train a super-network, a fixed architecture or T-ViPNets"),
    "search": Command("search", "vipnas-search", "spatial (S-ViPNet) or temporal (computation allocation) search"),
    "describe": Command("describe", "vipnas-describe", "an architecture's space, MACs, params and GFLOPs"),
    "quickstart": Command("quickstart", "vipnas-quickstart", "the main job on synthetic data, step by step"),
    "infer": Command("infer", "vipnas-infer", "online video pose inference with a schedule"),
    "evaluate": Command("evaluate", "vipnas-evaluate", "the COCO / PoseTrack18 test protocol, or score a results file"),
    "export": Command("export", "vipnas-export", "SavedModel (TF Serving layout) or .keras file of a model or schedule"),
    "convert": Command("convert", "vipnas-convert", "TFLite (float32, float16, int8, QAT) of a model or schedule"),
    "benchmark": Command("benchmark", "vipnas-benchmark", "LiteRT benchmark of .tflite models and schedules"),
    "make_synthetic": Command("make_synthetic", None, "write the synthetic COCO and PoseTrack18 sets"),
    "import_mmpose": Command("import_mmpose", None, "import an mmpose checkpoint as a model directory"),
    "bench_input": Command("bench_input", None, "input pipeline throughput"),
    "bench_latency_model": Command("bench_latency_model", None, "the latency model against measured latency"),
    "bench_supernet": Command("bench_supernet", None, "super-network vs extracted model inference time"),
    "bench_train": Command("bench_train", None, "sandwich training step vs static models"),
}

FLAGFILE_SUFFIX = ".flags"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config_dirs():
    """Where shipped flag files are looked up: the installed package's `vipnas_tf/configs/`,
    then the source tree's `configs/` when the package is imported from a checkout."""
    return [d for d in (os.path.join(_PACKAGE_DIR, "configs"), os.path.join(os.path.dirname(_PACKAGE_DIR), "configs"))
            if os.path.isdir(d)]


def shipped_flagfiles():
    """{name without .flags: path} of the shipped flag files (first directory wins)."""
    found = {}
    for d in config_dirs():
        for f in sorted(os.listdir(d)):
            if f.endswith(FLAGFILE_SUFFIX):
                found.setdefault(f[:-len(FLAGFILE_SUFFIX)], os.path.join(d, f))
    return found


def resolve_flagfile(value):
    """The path absl should read for `--flagfile=value`: `value` itself when it exists,
    else the shipped flag file of that name; SystemExit naming both otherwise."""
    if os.path.exists(value):
        return value
    name = os.path.basename(value)
    if name.endswith(FLAGFILE_SUFFIX):
        name = name[:-len(FLAGFILE_SUFFIX)]
    shipped = shipped_flagfiles()
    if name in shipped:
        return shipped[name]
    raise SystemExit(f"--flagfile={value}: no such file, and no shipped flag file named {name!r} "
                     f"(shipped: {', '.join(sorted(shipped)) or 'none found'})")


def resolve_flagfiles(argv):
    """`argv` with every --flagfile value resolved (`resolve_flagfile`); absl reads flag
    files while parsing, so this runs before app.run."""
    out, i = [], 0
    argv = list(argv)
    while i < len(argv):
        arg = argv[i]
        key, eq, value = arg.partition("=")
        if key in ("--flagfile", "-flagfile"):
            if eq:
                arg = f"{key}={resolve_flagfile(value)}"
            elif i + 1 < len(argv):
                out.append(arg)
                i += 1
                arg = resolve_flagfile(argv[i])
        out.append(arg)
        i += 1
    return out


def resolved_flags(flag_values):
    """{flag: value} of the command's own flags (absl's and other libraries' left out):
    what a launch records in its run history."""
    out = {}
    for module, module_flags in flag_values.flags_by_module_dict().items():
        if module.startswith("absl.") or module.startswith("tensorflow"):
            continue
        for flag in module_flags:
            value = flag.value
            out[flag.name] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def run(command, argv=None):
    """Runs COMMAND's `main` under absl.app with `argv` (default sys.argv)."""
    if command not in COMMANDS:
        raise SystemExit(f"unknown command {command!r}; commands: {', '.join(COMMANDS)}")
    argv = resolve_flagfiles(sys.argv if argv is None else argv)
    sys.argv = argv  # what the command sees and records (its run history's argv)
    # Imported here, per command: each command module defines its absl flags on import.
    module = importlib.import_module(f"vipnas_tf.cli.{COMMANDS[command].module}")
    app.run(module.main, argv=argv)


def usage():
    width = max(len(c) for c in COMMANDS)
    rows = "\n".join(f"  {c:<{width}}  {cmd.summary}" + (f"  ({cmd.console})" if cmd.console else "")
                     for c, cmd in COMMANDS.items())
    return f"usage: python -m vipnas_tf COMMAND [--flags]   (COMMAND --help for its flags)\n\ncommands:\n{rows}\n"


def main(argv=None):
    """`python -m vipnas_tf COMMAND [flags]`."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        sys.stdout.write(usage())
        return 0 if len(argv) >= 2 else 2
    command = argv[1]
    if command not in COMMANDS:
        sys.stderr.write(f"unknown command {command!r}\n\n{usage()}")
        return 2
    run(command, [f"vipnas-{command}", *argv[2:]])
    return 0
