"""Multi-frame propagation: the recurrence of eq. 2, the loss of eq. 1, sandwich
sampling of per-frame architectures."""
import numpy as np
import pytest
import tensorflow as tf

from vipnas_tf.models import build_supernet
from vipnas_tf.temporal import TemporalSpace
from vipnas_tf.temporal.propagation import (
    PropagationModel,
    multi_frame_loss,
    sample_frame_archs,
    sandwich_frame_archs,
)
from vipnas_tf.temporal.supernet import TemporalSuperNetwork
from vipnas_tf.testing.weights import randomize_weights

pytestmark = pytest.mark.slow  # traces super-networks / runs the real commands

INPUT = (64, 64)
T = 3


@pytest.fixture(scope="module")
def models():
    spatial = build_supernet("mobilenetv3", INPUT)
    randomize_weights(spatial, seed=1)
    key_arch = spatial.space.max()
    key = spatial.extract(key_arch)
    tnet = TemporalSuperNetwork.from_spatial(spatial)
    randomize_weights(tnet.fusion, seed=2)
    return spatial, key, tnet


def _clips(n=2):
    return tf.random.stateless_normal([n, T + 1, *INPUT, 3], seed=[4, 5])


def test_loss_matches_numpy():
    rng = np.random.default_rng(0)
    pred = rng.uniform(size=(2, T, 4, 3, 5)).astype(np.float32)
    target = rng.uniform(size=(2, T, 4, 3, 5)).astype(np.float32)
    weight = (rng.uniform(size=(2, T, 5)) > 0.3).astype(np.float32)
    per_frame = [np.mean(0.5 * weight[:, t, None, None, :] * (pred[:, t] - target[:, t]) ** 2) for t in range(T)]
    assert float(multi_frame_loss(pred, target, weight)) == pytest.approx(sum(per_frame), rel=1e-5)
    assert float(multi_frame_loss(pred, target, weight, "mean")) == pytest.approx(np.mean(per_frame), rel=1e-5)
    assert float(multi_frame_loss(pred, target)) == pytest.approx(
        sum(np.mean(0.5 * (pred[:, t] - target[:, t]) ** 2) for t in range(T)), rel=1e-5)
    assert float(multi_frame_loss(pred, pred, weight)) == 0.0
    # a joint with zero weight does not count
    target2 = target.copy()
    target2[..., 0] += 10.0 * (weight[:, :, None, None, 0] == 0)
    assert float(multi_frame_loss(pred, target2, weight)) == pytest.approx(sum(per_frame), rel=1e-5)
    with pytest.raises(ValueError, match=r"\[N, T, h, w, K\]"):
        multi_frame_loss(pred[:, 0], target[:, 0])


def test_recurrence(models):
    """H^0 = S(I^0), H^t = T(I^t, H^(t-1); arch^t), key frame optional in the output."""
    _, key, tnet = models
    clips = _clips()
    v = sample_frame_archs(tnet.temporal_space, np.random.default_rng(0), T, "random")
    out = PropagationModel(tnet, key, include_key=True)(clips, v, training=False).numpy()
    assert out.shape == (2, T + 1, 16, 16, 17)
    h = key(clips[:, 0], training=False)
    np.testing.assert_allclose(out[:, 0], h, atol=1e-6)
    for t in range(1, T + 1):
        h = tnet(clips[:, t], h, arch=v[t - 1], training=False)
        np.testing.assert_allclose(out[:, t], h, atol=1e-5)
    nonkey = PropagationModel(tnet, key)(clips, v, training=False).numpy()
    np.testing.assert_allclose(nonkey, out[:, 1:], atol=1e-6)
    # the tf.while_loop form computes the same
    looped = PropagationModel(tnet, key, unroll=False, include_key=True)(clips, tf.constant(v), training=False)
    np.testing.assert_allclose(looped, out, atol=1e-5)
    # the concrete (FrameArch list) path too
    archs = tnet.temporal_space.decode_many(v)
    np.testing.assert_allclose(PropagationModel(tnet, key)(clips, frame_archs=archs, training=False), nonkey, atol=1e-5)


def test_key_model_is_frozen_and_gradients_reach_every_frame(models):
    spatial, key, tnet = models
    model = PropagationModel(tnet, key)
    assert not key.trainable
    assert all(w is not None for w in model.trainable_weights)
    assert {id(w) for w in model.trainable_weights} == {id(w) for w in tnet.trainable_weights}
    clips = _clips()
    v = sample_frame_archs(tnet.temporal_space, np.random.default_rng(1), T, "max")
    target = tf.random.stateless_uniform([2, T, 16, 16, 17], seed=[1, 1])
    # every frame's fusion module (at its own stage) receives a gradient
    with tf.GradientTape() as tape:
        loss = multi_frame_loss(model(clips, v, training=True), target)
    grads = dict(zip([w.path for w in tnet.trainable_weights], tape.gradient(loss, tnet.trainable_weights)))
    used = {int(s) for s in v[:, -1]}
    for s in used:
        g = grads[f"fusion/s{s}_conv1_kernel"]
        assert g is not None and float(tf.reduce_max(tf.abs(g))) > 0
    # SuperNetwork key model with a key architecture works the same
    via_supernet = PropagationModel(tnet, spatial, key_arch=spatial.space.max())
    np.testing.assert_allclose(via_supernet.key_heatmaps(clips[:, 0]), key(clips[:, 0]), atol=1e-5)


def test_bad_frame_archs(models):
    _, key, tnet = models
    v = sample_frame_archs(tnet.temporal_space, np.random.default_rng(0), 2, "random")
    with pytest.raises(ValueError, match="T=3"):
        PropagationModel(tnet, key)(_clips(1), v)
    with pytest.raises(ValueError, match="TemporalSuperNetwork"):
        PropagationModel(key, key)


def test_sample_frame_archs_sandwich():
    ts = TemporalSpace("mobilenetv3")
    rng = np.random.default_rng(0)
    for mode, spatial in (("max", ts.spatial.max()), ("min", ts.spatial.min())):
        draws = [ts.decode_many(sample_frame_archs(ts, rng, 4, mode)) for _ in range(5)]
        assert all(fa.spatial == spatial for d in draws for fa in d)
        # temporal choices are random (paper 3.4.2), per frame
        assert len({(fa.fusion_op, fa.fusion_stage) for d in draws for fa in d}) > 3
    v = sample_frame_archs(ts, rng, 4, "random")
    assert v.shape == (4, ts.encoding_size) and v.dtype == np.int32
    assert len({fa.spatial for fa in ts.decode_many(v)}) == 4
    members = sandwich_frame_archs(ts, rng, 3, num_random=2)
    assert len(members) == 4 and ts.decode(members[0][0]).spatial == ts.spatial.max()
    with pytest.raises(ValueError, match="at least one non-key frame"):
        sample_frame_archs(ts, rng, 0)
    with pytest.raises(ValueError, match="mode must be"):
        sample_frame_archs(ts, rng, 3, "biggest")


def test_previous_heatmaps_enter_the_fusion_alike_in_training_evaluation_and_video(models, tmp_path, monkeypatch):
    """One synthetic clip through the three paths: TemporalTask.forward (training, the
    tf.while_loop model the task builds), ClipEvaluator with `propagate_clips` (clip
    evaluation: ScheduleEvaluator, the quickstart) and VideoPoseRunner with the clip's
    boxes. Every T-ViPNet receives the same previous heatmaps, warped into its own crop.

    Tolerance 1e-5 (heatmaps ~0.1-1): the crops and the warp are the same code in all
    three, border samples included; only float32 rounding of the networks (eager
    vs. the runner's tf.function warp) can differ.
    """
    import json
    import os

    from vipnas_tf.data.pipeline import make_clip_dataset
    from vipnas_tf.data.posetrack import PoseTrackData
    from vipnas_tf.data.synthetic import generate
    from vipnas_tf.evaluation.clips import ClipEvaluator
    from vipnas_tf.runtime import FrameSource, ScheduleModels, VideoPoseRunner
    from vipnas_tf.temporal import Schedule
    from vipnas_tf.temporal.propagation import propagate_clips
    from vipnas_tf.training.config import TrainConfig
    from vipnas_tf.training.temporal import TemporalTask

    spatial, key, tnet = models
    generate(tmp_path, images=2, clips=2, frames=T + 1, seed=1, workers=1, progress=False, val_fraction=0.5)
    pt = tmp_path / "posetrack"
    val_ann = str(pt / "annotations" / "val")
    v = sample_frame_archs(tnet.temporal_space, np.random.default_rng(3), T, "min")  # min: fewer eager ops
    seen = []  # what every T-ViPNet call receives as previous heatmaps
    original = TemporalSuperNetwork.call

    def recording(self, images, prev_heatmaps, arch=None, training=None):
        seen.append(np.array(prev_heatmaps))
        return original(self, images, prev_heatmaps, arch=arch, training=training)

    monkeypatch.setattr(TemporalSuperNetwork, "call", recording)

    # training: the task's forward on the clip dataset's batch
    clips = PoseTrackData(val_ann, str(pt)).clips(T + 1, step=T + 1)
    batch = next(iter(make_clip_dataset(clips.select([0]), INPUT, 1, training=False)))
    key_dir = tmp_path / "key"
    key_dir.mkdir()
    (key_dir / "run_config.json").write_text(json.dumps(
        {"mode": "standalone", "space": "mobilenetv3", "arch": spatial.space.max().to_string(),
         "input_size": list(INPUT), "keypoint_layout": "posetrack18"}))
    task = TemporalTask(TrainConfig(mode="temporal", input_size=INPUT, num_frames=T, key_model_dir=str(key_dir),
                                    train_ann=val_ann, train_images=str(pt)))
    model = PropagationModel(tnet, key, unroll=False)
    pred = task.forward(model)(batch, tf.constant(v), training=False)
    training = seen[:T]
    assert pred.shape == (1, T, 16, 16, 17)

    # clip evaluation: the evaluator's crops and crop matrices through propagate_clips
    ev = ClipEvaluator(val_ann, str(pt), INPUT, T)
    np.testing.assert_array_equal(ev.clip_rows[0], clips.indices[0])
    np.testing.assert_allclose(ev.clip_images(0, 1), batch["image"], atol=1e-6)
    np.testing.assert_allclose(ev.clip_matrices(0, 1), batch["crop_matrix"], atol=1e-4)
    frame_fns = [lambda x, p, a=a: tnet(x, p, arch=a, training=False) for a in v]
    del seen[:]
    ev.evaluate(lambda c, m: propagate_clips(lambda x: key(x, training=False), frame_fns, c, m), batch_size=1)
    evaluation = seen[:T]

    # video: the clip's frames and boxes through the runner
    rows = clips.indices[0]
    folder = os.path.dirname(clips.samples.image_paths[rows[0]])
    source = FrameSource(images=folder)
    frame_of = {i: source.files.index(os.path.basename(clips.samples.image_paths[r])) for i, r in enumerate(rows)}
    boxes = {frame_of[i]: np.concatenate([clips.samples.bboxes[r], [1.0]])[None].astype(np.float32)
             for i, r in enumerate(rows)}
    sched = Schedule.from_archs(spatial.space.max(), tnet.temporal_space.decode_many(v), INPUT)
    runner_models = ScheduleModels(lambda x: key(x, training=False).numpy(),
                                   [lambda x, p, a=a: tnet(x, p, arch=a, training=False).numpy() for a in v],
                                   "injected")
    del seen[:]
    VideoPoseRunner(sched, runner_models).run(source, boxes=boxes)
    video = seen[T:2 * T]  # after the warm-up call of each frame network

    key_heatmaps = key(batch["image"][:, 0], training=False).numpy()
    assert np.abs(training[0] - key_heatmaps).max() > 1e-2  # the boxes moved: the warp is not the identity
    for t in range(T):
        np.testing.assert_allclose(evaluation[t], training[t], atol=1e-5, err_msg=f"evaluation, frame {t + 1}")
        np.testing.assert_allclose(video[t], training[t], atol=1e-5, err_msg=f"video, frame {t + 1}")
