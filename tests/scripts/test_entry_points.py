"""The command-line layer (vipnas_tf/cli): `python -m vipnas_tf COMMAND`, the console
scripts, the scripts/ and tflite/ aliases, --flagfile by name; and the wheel installed
into a fresh virtual environment, run from outside the checkout (slow, opt-in: see
BUILD.md, "Package tier")."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from absl import flags

from vipnas_tf import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    env.pop("VIPNAS_SHARED_DATA", None)
    return env


def _python_m(*args, cwd):
    return subprocess.run([sys.executable, "-m", "vipnas_tf", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=120)


def test_flagfile_found_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = os.path.join(ROOT, "configs", "quickstart_supernet.flags")
    for given in ("quickstart_supernet", "quickstart_supernet.flags", "configs/quickstart_supernet.flags"):
        assert cli.resolve_flagfiles(["prog", f"--flagfile={given}", "--x=1"]) == ["prog", f"--flagfile={shipped}", "--x=1"]
    assert cli.resolve_flagfiles(["prog", "--flagfile", "quickstart_search"])[2].endswith("configs/quickstart_search.flags")
    own = tmp_path / "quickstart_supernet.flags"  # a file that exists is read as given
    own.write_text("--seed=1\n")
    assert cli.resolve_flagfiles(["prog", "--flagfile=quickstart_supernet.flags"])[1] == "--flagfile=quickstart_supernet.flags"
    with pytest.raises(SystemExit, match=r"--flagfile=nope: no such file, .*quickstart_supernet"):
        cli.resolve_flagfiles(["prog", "--flagfile=nope"])


def test_resolved_flags_are_the_commands_own():
    fv = flags.FlagValues()
    flags.DEFINE_integer("steps", 3, "", flag_values=fv, module_name="vipnas_tf.cli.demo")
    flags.DEFINE_list("sizes", ["1", "2"], "", flag_values=fv, module_name="vipnas_tf.cli.demo")
    flags.DEFINE_integer("verbosity", 0, "", flag_values=fv, module_name="absl.logging")
    fv(["prog", "--steps=5"])
    assert cli.resolved_flags(fv) == {"steps": 5, "sizes": ["1", "2"]}


def test_aliases_console_scripts_and_commands_agree():
    """Every scripts/ and tflite/ alias runs a known command; every command has a module
    with main(argv); setup.py's console scripts are the commands' console names."""
    aliases = {}
    for folder in ("scripts", "tflite"):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            text = open(os.path.join(ROOT, folder, name), encoding="utf-8").read() if name.endswith(".py") else ""
            found = re.findall(r'^\s+run\("(\w+)"\)', text, re.M)
            if found:
                aliases[f"{folder}/{name}"] = found[0]
                assert len(text.splitlines()) <= 6, f"{folder}/{name} is more than a thin alias"
    assert set(aliases.values()) == set(cli.COMMANDS)
    for command in cli.COMMANDS.values():
        source = open(os.path.join(ROOT, "vipnas_tf", "cli", f"{command.module}.py"), encoding="utf-8").read()
        assert "\ndef main(argv)" in source, command.module
    setup = ast.parse(open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read())
    scripts = next(ast.literal_eval(n.value) for n in ast.walk(setup)
                   if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "CONSOLE_SCRIPTS")
    console = ast.parse(open(os.path.join(ROOT, "vipnas_tf", "cli", "console.py"), encoding="utf-8").read())
    functions = {f.name for f in console.body if isinstance(f, ast.FunctionDef)}
    pairs = {s.split("=")[0]: s.split(":")[1] for s in scripts}
    assert set(pairs) == {c.console for c in cli.COMMANDS.values() if c.console}
    assert set(pairs.values()) <= functions
    assert {f"vipnas-{c}" for c in functions} == set(pairs)


def test_python_m_runs_one_command_with_only_its_flags(tmp_path):
    out = _python_m("describe", "--arch=s_vipnas_mbv3", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["preset"] == "s_vipnas_mbv3"
    other = _python_m("describe", "--stop_after=supernet", cwd=tmp_path)  # a quickstart flag
    assert other.returncode != 0 and "stop_after" in other.stderr
    assert _python_m(cwd=tmp_path).returncode == 2
    unknown = _python_m("train9000", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown command 'train9000'" in unknown.stderr and "quickstart" in unknown.stderr


def _copy_sources(dest):
    """The files a wheel is built from (no build/ or egg-info left over from elsewhere)."""
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "BUILD.md"):
        shutil.copy(os.path.join(ROOT, name), dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("configs", "vipnas_tf"):
        shutil.copytree(os.path.join(ROOT, folder), os.path.join(dest, folder), ignore=ignore)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("VIPNAS_PACKAGE_TEST"), reason="package tier: set VIPNAS_PACKAGE_TEST=1 "
                    "(builds a wheel and a virtual environment; BUILD.md, 'Package tier')")
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    """pip wheel --no-deps, a fresh venv with --system-site-packages (TensorFlow and the
    other dependencies come from the system site-packages, not downloaded), pip install
    --no-deps --no-index, then from an empty directory: vipnas-describe, the shipped flag
    files by name, and the quickstart's first step."""
    t0 = time.time()
    src, wheels, venv, work = (tmp_path / n for n in ("src", "wheels", "venv", "work"))
    for d in (src, work):
        d.mkdir()
    _copy_sources(src)
    env = _env()
    env.pop("PYTHONPATH")

    def run(*args, cwd=work, timeout=600):
        out = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, f"{args}: {out.stderr[-3000:]}"
        return out.stdout

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, src)
    (wheel,) = wheels.glob("vipnas_tf-*.whl")
    run(sys.executable, "-m", "venv", "--system-site-packages", venv)
    bin_dir = venv / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    installed = time.time()

    described = json.loads(run(bin_dir / "vipnas-describe", "--arch=s_vipnas_mbv3", "--json"))
    assert described["preset"] == "s_vipnas_mbv3" and described["in_space"] is True
    probe = json.loads(run(bin_dir / "python", "-c", (
        "import json, vipnas_tf; from vipnas_tf import cli; from vipnas_tf.pipeline.quickstart import DEFAULT_VIDEO; "
        "print(json.dumps({'file': vipnas_tf.__file__, 'flagfile': cli.resolve_flagfile('quickstart_supernet'), "
        "'video': DEFAULT_VIDEO}))")))
    site = str(venv / "lib")
    assert probe["file"].startswith(site), probe  # the installed copy, not the checkout
    assert probe["flagfile"].startswith(site) and probe["flagfile"].endswith("vipnas_tf/configs/quickstart_supernet.flags")
    assert probe["video"] == ""  # no ../shared beside an installed package
    printed = run(bin_dir / "vipnas-quickstart", "--out=qs", "--stop_after=synthetic_data", "--images=12",
                  "--clips=2", "--frames=3")
    out = json.loads(printed[printed.index("{\n"):])  # after the steps' progress lines
    assert out["stopped_after"] == "synthetic_data"
    assert (work / "qs" / "01_synthetic_data" / "DONE.json").exists()
    assert not (work / "qs" / "02_supernet").exists()
    history = [json.loads(line) for line in (work / "qs" / "history.jsonl").read_text().splitlines()]
    assert history[0]["kind"] == "quickstart" and history[0]["version"]["git_commit"] is None
    print(f"wheel + venv + install {installed - t0:.1f} s; describe + probe + quickstart first step "
          f"{time.time() - installed:.1f} s; total {time.time() - t0:.1f} s")
