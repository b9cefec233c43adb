import json
import subprocess
import sys


def test_make_synthetic_prints_summary(repo_root, tmp_path):
    r = subprocess.run([sys.executable, str(repo_root / "scripts" / "make_synthetic.py"), f"--out={tmp_path}",
                        "--images=6", "--clips=2", "--frames=3", "--seed=4", "--workers=1", "--noprogress"],
                       capture_output=True, text=True, cwd=repo_root, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["coco_train_images"] + summary["coco_val_images"] == 6
    assert summary["posetrack_train_frames"] + summary["posetrack_val_frames"] == 6
    assert "seconds" in summary
    assert (tmp_path / "coco" / "annotations" / "person_keypoints_train.json").exists()
    assert any((tmp_path / "posetrack" / "annotations" / "val").glob("*.json"))
