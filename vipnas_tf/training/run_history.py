"""Run history: every launch of a command in a run directory, appended, never overwritten.

    RUN_DIR/history.jsonl   one JSON object per launch that got past its set-up:
        {"time": "2026-12-01T16:20:00Z", "kind": "train", "command": "scripts/train.py",
         "argv": [...], "version": {"package": "0.1.0", "git_commit": "9d50e00...",
         "git_dirty": false}, "flags": {FLAG: VALUE, ...}, "changed": [...]}

`run_config.json` stays the run's *current* configuration (what the loaders read); the
history says which flags each launch used, with which code, and what a resume changed.

A launch checks the run directory first (`check_launch`), before any step runs:
- a directory written by another kind of run (a search's output given to training, a
  training run given to a search as --out) is refused, naming both kinds;
- a resume whose flags differ from the previous launch's is refused, listing each
  difference (field, old, new), unless the caller allows changed flags. Flags in
  `may_change` (how often to log, evaluate or checkpoint, the device set-up, the
  progress bar) never count as a change; `identity` flags (what the run *is*: its mode,
  space, architecture, input size) are refused even when changes are allowed.
Then, once the launch is set up, `append_launch` records it.

Commands whose output is a file or a folder written in one go (conversion, export)
record their flags beside it with `write_flags_beside`.
"""
import datetime
import os
import subprocess
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from vipnas_tf import __version__
from vipnas_tf.utils import io as io_utils

HISTORY = "history.jsonl"
RUN_CONFIG = "run_config.json"  # the same name as vipnas_tf.training.model_dir.RUN_CONFIG

# scripts/train.py: flags a resume may change without --allow_changed_flags. They set how
# a run is observed, saved and placed on devices, not what it computes: the step count,
# learning rate and schedule, data, augmentation, seed and sandwich settings all count.
# --train_steps and --epochs count too: the learning-rate schedule is laid out over the
# total steps, so extending a run changes the learning rate of the steps still to come
# (extend knowingly with --allow_changed_flags; the history records the change).
# The device and cluster flags (--strategy, --cpu_devices, --tpu, --communication_timeout)
# may change: the same global batch trains the same way on one device or many workers
# (the cluster itself is TF_CONFIG, no flag). --mixed_precision counts: it changes the
# arithmetic.
TRAIN_MAY_CHANGE = frozenset({
    "progress", "json", "log_every", "checkpoint_every", "keep_checkpoints", "eval_every",
    "eval_max_persons", "bn_calib_batches", "strategy", "cpu_devices", "tpu", "communication_timeout",
    "jit_compile", "allow_changed_flags", "model_dir",
})
# What a training run is: a resume may never change these (Trainer refuses them too).
TRAIN_IDENTITY = ("mode", "space", "arch", "input_size", "num_frames", "fusion", "key_model_dir")
# Flags holding paths: recorded absolute, so a resume from another working directory
# compares equal.
TRAIN_PATH_FLAGS = ("model_dir", "train_ann", "train_images", "val_ann", "val_images", "synthetic_data",
                    "init_from", "key_model_dir")


class RunHistoryError(ValueError):
    """A launch refused by its run directory's history."""


def history_path(run_dir):
    return os.path.join(os.fspath(run_dir), HISTORY)


def read_history(run_dir) -> List[Dict]:
    """The launches recorded in `run_dir` (oldest first; [] when none)."""
    return io_utils.read_jsonl(history_path(run_dir))


def code_version() -> Dict:
    """{"package": version, "git_commit": HEAD or None, "git_dirty": bool or None}: the
    commit when the package is imported from a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    version = {"package": __version__, "git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return version
    version.update(git_commit=commit or None, git_dirty=bool(status.strip()))
    return version


def normalize_flags(flags: Dict, path_flags: Iterable[str] = ()) -> Dict:
    """`flags` with tuples as lists and the non-empty `path_flags` made absolute."""
    out = {}
    for name, value in sorted(flags.items()):
        if isinstance(value, tuple):
            value = list(value)
        if name in path_flags and isinstance(value, str) and value:
            value = os.path.abspath(value)
        out[name] = value
    return out


def dir_kind(run_dir) -> Optional[Tuple[str, str]]:
    """(kind, evidence) of what wrote `run_dir`: the last launch's kind in history.jsonl,
    else "train" when a run_config.json is there; None for a new or foreign directory."""
    history = read_history(run_dir)
    if history:
        return history[-1].get("kind"), history_path(run_dir)
    config = os.path.join(os.fspath(run_dir), RUN_CONFIG)
    if os.path.exists(config):
        return "train", config
    return None


def flag_changes(old: Dict, new: Dict, may_change: Iterable[str] = ()) -> List[Tuple[str, object, object]]:
    """[(flag, old value, new value)] of the flags set in both launches that differ,
    except those in `may_change`. A flag only one launch knows (another code version)
    is not a change."""
    skip = set(may_change)
    return [(name, old[name], new[name]) for name in sorted(set(old) & set(new))
            if name not in skip and old[name] != new[name]]


def check_launch(run_dir, kind: str, flags: Dict, allow_changed: bool = False,
                 may_change: Iterable[str] = (), identity: Sequence[str] = ()) -> List[Tuple]:
    """Checks a launch of `kind` with `flags` (normalized) against `run_dir`'s history.

    Returns the changed flags [(flag, old, new)] (empty on a first launch or an
    unchanged resume). Raises RunHistoryError naming the directory when it was written
    by another kind of run, when an `identity` flag changed, or when other flags
    changed and `allow_changed` is False.
    """
    run_dir = os.fspath(run_dir)
    found = dir_kind(run_dir)
    if found is None:
        return []
    old_kind, evidence = found
    if old_kind != kind:
        raise RunHistoryError(f"{run_dir}: written by a {old_kind!r} run ({evidence}), this is a {kind!r} "
                              f"launch; give the {kind} its own directory")
    previous = [h for h in read_history(run_dir) if h.get("kind") == kind]
    if not previous:
        return []
    old_flags = previous[-1].get("flags", {})
    changes = flag_changes(old_flags, flags, may_change)
    fixed = [c for c in changes if c[0] in identity]
    if fixed:
        name, old, new = fixed[0]
        if name == "mode":
            raise RunHistoryError(f"{run_dir}: holds a {old!r} run, this is a {new!r} run; use another directory")
        raise RunHistoryError(f"{run_dir}: holds a run with {name}={old!r}, this launch has {name}={new!r} "
                              f"({name} cannot change on resume); use another directory")
    if changes and not allow_changed:
        rows = "\n".join(f"  --{name}: {old!r} -> {new!r}" for name, old, new in changes)
        raise RunHistoryError(f"{run_dir}: resuming with changed flags (previous launch "
                              f"{previous[-1].get('time')}, recorded in {history_path(run_dir)}):\n{rows}\n"
                              f"re-run with the previous values, use another directory, or pass "
                              f"--allow_changed_flags to resume with the new ones")
    return changes


def launch_record(kind: str, flags: Dict, argv: Sequence[str] = (), command: str = "",
                  changed: Sequence[Tuple] = ()) -> Dict:
    """One history line: UTC time, kind, command, argv, code version, flags, changes."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    record = {"time": now.isoformat().replace("+00:00", "Z"), "kind": kind, "command": command,
              "argv": list(argv), "version": code_version(), "flags": flags}
    if changed:
        record["changed"] = [{"flag": n, "old": o, "new": v} for n, o, v in changed]
    return record


def append_launch(run_dir, record: Dict):
    """Appends `record` (from `launch_record`) to RUN_DIR/history.jsonl."""
    io_utils.append_jsonl(history_path(run_dir), record)


def flags_path_beside(output) -> str:
    """Where the flags of an output are written: OUTPUT/flags.json for a folder,
    OUTPUT.flags.json beside a file."""
    output = os.fspath(output)
    if os.path.isdir(output):
        return os.path.join(output, "flags.json")
    return output + ".flags.json"


def write_flags_beside(output, record: Dict) -> str:
    """Writes `record` (from `launch_record`) beside `output` atomically; returns the path."""
    path = flags_path_beside(output)
    io_utils.write_json(path, record)
    return path
