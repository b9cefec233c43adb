"""The run history of the commands (vipnas_tf/training/run_history.py) from their absl flags."""
import sys

from vipnas_tf.cli import resolved_flags
from vipnas_tf.training import run_history


def record_launch(run_dir, kind, flag_values, path_flags=()):
    """Appends this launch of `kind` to RUN_DIR/history.jsonl; RunHistoryError (a
    ValueError) when RUN_DIR was written by another kind of run. Changed flags are
    allowed and recorded (the command keys its own resume by its settings)."""
    flags = run_history.normalize_flags(resolved_flags(flag_values), path_flags)
    changed = run_history.check_launch(run_dir, kind, flags, allow_changed=True)
    record = run_history.launch_record(kind, flags, sys.argv[1:], sys.argv[0], changed)
    run_history.append_launch(run_dir, record)
    return record


def record_beside(output, kind, flag_values, path_flags=()):
    """Writes this launch's flags, time and code version beside `output` (OUTPUT/flags.json
    for a folder, OUTPUT.flags.json for a file); returns the path."""
    flags = run_history.normalize_flags(resolved_flags(flag_values), path_flags)
    record = run_history.launch_record(kind, flags, sys.argv[1:], sys.argv[0])
    return run_history.write_flags_beside(output, record)
