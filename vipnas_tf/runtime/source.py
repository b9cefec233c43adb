"""Frames of a video file or an image folder, read with OpenCV, in order.

    source = FrameSource(video="clip.mp4", max_frames=100)
    for index, frame_bgr, name in source:      # frame_bgr None: unreadable image
        ...

Errors name the path: a missing path, a file OpenCV cannot open, a video without a
single readable frame and a folder without images each raise before any frame is
processed. An image of a folder that cannot be decoded is yielded as None (the
runner records that frame as empty and goes on).
"""
import os
import re

import cv2

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _natural_key(name):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


class VideoSourceError(ValueError):
    """Unreadable or empty video / image folder."""


class FrameSource:
    """Frames of `video` (a file OpenCV can decode) or `images` (a folder).

    Args:
      video: path of a video file.
      images: path of a folder of images (natural sort order: 2.jpg before 10.jpg).
      max_frames: read at most this many frames (None: all).

    Attributes:
      kind: "video" or "images".
      path: the source path.
      fps: frames per second (video: from the container, 30 if unknown; images: 30).
      frame_size: (width, height) of the first frame.
      num_frames: frames that will be read (after `max_frames`; for a video as the
        container reports it; `count_frames()` counts exactly).
    """

    def __init__(self, video=None, images=None, max_frames=None):
        if (video is None) == (images is None):
            raise VideoSourceError("give exactly one of a video file and an image folder")
        if max_frames is not None and int(max_frames) < 1:
            raise VideoSourceError(f"max_frames={max_frames}: must be >= 1")
        self.max_frames = None if max_frames is None else int(max_frames)
        if video is not None:
            self.kind, self.path = "video", os.fspath(video)
            self._open_video()
        else:
            self.kind, self.path = "images", os.fspath(images)
            self._open_folder()

    # ---- opening ------------------------------------------------------------------------
    def _capture(self):
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            cap.release()
            raise VideoSourceError(f"{self.path}: cannot open video (unreadable file or unsupported format)")
        return cap

    def _open_video(self):
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"{self.path}: no such video file")
        cap = self._capture()
        try:
            ok, frame = cap.read()
            if not ok or frame is None:
                raise VideoSourceError(f"{self.path}: video has no readable frames (empty or corrupt)")
            self.frame_size = (int(frame.shape[1]), int(frame.shape[0]))
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = float(fps) if fps and fps > 0 and fps < 1000 else 30.0
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        finally:
            cap.release()
        self._reported_frames = count if count > 0 else None
        self._exact_frames = None

    def _open_folder(self):
        if not os.path.isdir(self.path):
            raise FileNotFoundError(f"{self.path}: no such image folder")
        names = [n for n in os.listdir(self.path) if n.lower().endswith(IMAGE_EXTENSIONS)]
        if not names:
            raise VideoSourceError(f"{self.path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        self.files = sorted(names, key=_natural_key)
        first = None
        for name in self.files:  # the first decodable image gives the size
            first = cv2.imread(os.path.join(self.path, name), cv2.IMREAD_COLOR)
            if first is not None:
                break
        if first is None:
            raise VideoSourceError(f"{self.path}: none of the {len(self.files)} images can be decoded")
        self.frame_size = (int(first.shape[1]), int(first.shape[0]))
        self.fps = 30.0
        self._reported_frames = len(self.files)
        self._exact_frames = len(self.files)

    # ---- counts -------------------------------------------------------------------------------
    @property
    def total_frames(self):
        """Frames in the whole source (video: the container's count, else counted)."""
        if self._reported_frames is None:
            return self.count_frames()
        return self._reported_frames

    def count_frames(self):
        """Exact number of frames of the whole source (a video is decoded once)."""
        if self._exact_frames is None:
            cap = self._capture()
            n = 0
            try:
                while cap.grab():
                    n += 1
            finally:
                cap.release()
            self._exact_frames = n
        return self._exact_frames

    @property
    def num_frames(self):
        n = self.total_frames
        return n if self.max_frames is None else min(n, self.max_frames)

    # ---- reading ------------------------------------------------------------------------------
    def __iter__(self):
        """Yields (index, BGR uint8 [h, w, 3] or None, name)."""
        limit = self.max_frames
        if self.kind == "images":
            for i, name in enumerate(self.files):
                if limit is not None and i >= limit:
                    return
                yield i, cv2.imread(os.path.join(self.path, name), cv2.IMREAD_COLOR), name
            return
        cap = self._capture()
        try:
            i = 0
            while limit is None or i < limit:
                ok, frame = cap.read()
                if not ok or frame is None:
                    return
                yield i, frame, f"frame{i:06d}"
                i += 1
        finally:
            cap.release()
