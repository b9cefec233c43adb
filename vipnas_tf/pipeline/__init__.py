"""The main job as resumable steps (what `scripts/quickstart.py` runs)."""
