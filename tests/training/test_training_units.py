"""Losses, sandwich sampling, LR schedules, config checks, the sandwich step's arithmetic
and BN re-calibration, on a tiny elastic model (fast)."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from vipnas_tf.arch import get_space
from vipnas_tf.data.transforms import AugmentConfig
from vipnas_tf.training import TrainConfig, keypoint_mse, recalibrate_bn
from vipnas_tf.training.losses import distillation_mse
from vipnas_tf.training.sandwich import FixedSampler, SandwichSampler
from vipnas_tf.training.schedules import PoseLRSchedule
from vipnas_tf.training.step import TrainStep
from vipnas_tf.training.trainer import check_writable

from tests.training.toy import K, ToyNet, toy_batch


def test_keypoint_mse_hand_computed():
    pred = np.zeros((2, 2, 2, 2), np.float32)
    target = np.ones((2, 2, 2, 2), np.float32)
    weight = np.array([[1, 0], [1, 1]], np.float32)
    # example 0: half the joints weighted -> mean of squares 0.5 -> loss 0.25
    np.testing.assert_allclose(keypoint_mse(pred, target, weight).numpy(), [0.25, 0.5])
    np.testing.assert_allclose(distillation_mse(pred, target).numpy(), [0.5, 0.5])


def test_sandwich_sampler_is_a_function_of_seed_and_step():
    space = get_space("mobilenetv3")
    s = SandwichSampler(space, num_random=3, seed=5)
    a, b = s.vectors(17), SandwichSampler(space, num_random=3, seed=5).vectors(17)
    np.testing.assert_array_equal(a, b)  # a resumed run samples the same members
    assert a.shape == (5, space.encoding_size) and a.dtype == np.int32
    np.testing.assert_array_equal(a[0], space.encode(space.max()))
    np.testing.assert_array_equal(a[1], space.encode(space.min()))
    assert not np.array_equal(s.vectors(18)[2:], a[2:])
    assert s.member_names == ["max", "min", "rand1", "rand2", "rand3"]
    for row in a:
        space.validate(space.decode(row))
    with pytest.raises(ValueError, match="num_random"):
        SandwichSampler(space, num_random=-1)
    f = FixedSampler(space, space.min())
    assert f.vectors(3).shape == (1, space.encoding_size)


def test_step_schedule_matches_paper_epochs():
    s = PoseLRSchedule(1e-3, 250, "step", (0.8, 0.92), 0.1)
    lr = [float(s(e)) for e in (0, 199, 200, 229, 230, 249)]
    np.testing.assert_allclose(lr, [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5], rtol=1e-5)
    c = PoseLRSchedule(1.0, 100, "cosine")
    assert float(c(0)) == pytest.approx(1.0) and float(c(50)) == pytest.approx(0.5, abs=1e-6)
    assert float(c(100)) == pytest.approx(0.0, abs=1e-6)
    w = PoseLRSchedule(1.0, 100, "constant", warmup_steps=10)
    assert float(w(0)) == pytest.approx(0.1) and float(w(10)) == pytest.approx(1.0)
    assert PoseLRSchedule.from_config(s.get_config()).boundaries() == [200, 230]


def _config(tmp_path, **kw):
    ann = tmp_path / "ann.json"
    ann.write_text("{}")
    base = dict(train_ann=str(ann), train_images=str(tmp_path), val_ann=str(ann), val_images=str(tmp_path))
    base.update(kw)
    return TrainConfig(**base)


def test_config_errors_name_the_setting(tmp_path):
    _config(tmp_path).validate()
    with pytest.raises(ValueError, match="train_images.*does not exist"):
        _config(tmp_path, train_images=str(tmp_path / "nope")).validate()
    with pytest.raises(ValueError, match="input_size"):
        _config(tmp_path, input_size=(100, 96)).validate()
    with pytest.raises(ValueError, match="standalone.*arch"):
        _config(tmp_path, mode="standalone").validate()
    with pytest.raises(ValueError, match="strategy"):
        _config(tmp_path, strategy="horovod").validate()
    with pytest.raises(ValueError, match="distill_start"):
        _config(tmp_path, distill_start=-1).validate()
    with pytest.raises(ValueError, match="random_start"):
        _config(tmp_path, random_start=-1).validate()
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="half_body_prob.*1.5"):
        _config(tmp_path, half_body_prob=1.5).validate()
    with pytest.raises(ValueError, match=r"scale_range.*\(1.25, 0.75\)"):
        _config(tmp_path, scale_range=(1.25, 0.75)).validate()
    with pytest.raises(ValueError, match="rotation_deg"):
        _config(tmp_path, rotation_deg=-5.0).validate()
    cfg = _config(tmp_path, input_size=(128, 96), scale_range=(0.9, 1.1), half_body_prob=0.0)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    aug = cfg.augment_config()
    assert (aug.rotation_deg, aug.rotation_prob, aug.flip_prob, aug.scale_range, aug.half_body_prob) == \
        (40.0, 0.6, 0.5, (0.9, 1.1), 0.0)
    assert _config(tmp_path, augment=False).augment_config() == AugmentConfig.none()


def test_unwritable_model_dir_fails_early(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="cannot be written"):
        check_writable(str(blocker / "run"))


def _toy_step(strategy, model, optimizer, members, distill=True, distill_start=0, random_start=0):
    return TrainStep(
        strategy, model, optimizer,
        forward=lambda b, a, t: model(b["image"], arch=a, training=t),
        loss_fn=lambda p, b: keypoint_mse(p, b["heatmaps"], b["target_weight"]),
        teacher_shape=lambda b: tf.concat([tf.shape(b["image"])[:3], [K]], 0),
        global_batch_size=4, num_members=len(members), distill=distill, distill_start=distill_start,
        random_start=random_start)


def test_sandwich_step_sums_member_gradients_with_distillation():
    keras.utils.set_random_seed(0)
    model = ToyNet()
    strategy = tf.distribute.get_strategy()
    members = np.array([[8], [2], [5]], np.int32)
    batch = {k: tf.constant(v) for k, v in toy_batch().items()}
    w0 = [np.array(v) for v in model.trainable_variables]
    # Expected update by hand: biggest on ground truth, others on gt + its heatmaps.
    grads = [np.zeros_like(w) for w in w0]
    teacher, expect_gt = None, []
    for i, m in enumerate(members):
        with tf.GradientTape() as tape:
            pred = model(batch["image"], arch=m, training=True)
            gt = keypoint_mse(pred, batch["heatmaps"], batch["target_weight"])
            loss = tf.reduce_mean(gt) + (tf.reduce_mean(distillation_mse(pred, teacher)) if i else 0.0)
        for j, g in enumerate(tape.gradient(loss, model.trainable_variables,
                                            unconnected_gradients=tf.UnconnectedGradients.ZERO)):
            grads[j] += np.array(g)
        expect_gt.append(float(tf.reduce_mean(gt)))
        teacher = tf.stop_gradient(pred) if i == 0 else teacher
    model.reset_bn_statistics()
    sgd = keras.optimizers.SGD(0.5)
    sgd.build(model.trainable_variables)
    step = _toy_step(strategy, model, sgd, members)
    gt, kd = step(batch, members)
    np.testing.assert_allclose(gt.numpy(), expect_gt, rtol=1e-5)
    assert kd.numpy()[0] == 0 and np.all(kd.numpy()[1:] > 0)
    for w, w_old, g in zip(model.trainable_variables, w0, grads):
        np.testing.assert_allclose(np.array(w), w_old - 0.5 * g, rtol=1e-4, atol=1e-6)
    step(batch, members[::-1].copy())
    assert step.trace_count == 1  # new members, no re-trace


def _updates(members, batch, distill, distill_start, steps, random_start=0, with_gt=False):
    """Weights after each of `steps` SGD sandwich steps from the same fresh ToyNet."""
    keras.utils.set_random_seed(0)
    model = ToyNet()
    sgd = keras.optimizers.SGD(0.5)
    sgd.build(model.trainable_variables)
    step = _toy_step(tf.distribute.get_strategy(), model, sgd, members, distill, distill_start, random_start)
    out = []
    for _ in range(steps):
        gt, kd = step(batch, members)
        out.append(([np.array(w) for w in model.trainable_variables], gt.numpy() if with_gt else kd.numpy()))
    return out, step.trace_count


def test_random_members_join_at_random_start():
    """Before random_start a sandwich step is exactly the two ends' step (the random
    member neither runs nor pulls); from it on the random member trains, without a re-trace."""
    members = np.array([[8], [2], [5]], np.int32)
    batch = {k: tf.constant(v) for k, v in toy_batch().items()}
    late, traces = _updates(members, batch, True, 0, 3, random_start=2, with_gt=True)
    ends, _ = _updates(members[:2].copy(), batch, True, 0, 3, with_gt=True)
    full, _ = _updates(members, batch, True, 0, 3, with_gt=True)
    for (w_late, gt_late), (w_ends, gt_ends) in zip(late[:2], ends[:2]):
        for a, b in zip(w_late, w_ends):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(gt_late[:2], gt_ends, rtol=1e-6)
        assert gt_late[2] == 0.0
    assert late[2][1][2] > 0  # step 2: the random member's loss is computed ...
    # ... and its gradient counts: the update differs from the two ends' third step
    assert any(not np.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(late[2][0], ends[2][0]))
    assert any(not np.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(late[0][0], full[0][0]))
    assert traces == 1
    with pytest.raises(ValueError, match="random_start"):
        _toy_step(tf.distribute.get_strategy(), ToyNet(), keras.optimizers.SGD(0.1), members, True, 0, -1)


def test_distill_start_trains_on_ground_truth_only_before_it():
    members = np.array([[8], [2], [5]], np.int32)
    batch = {k: tf.constant(v) for k, v in toy_batch().items()}
    late, traces = _updates(members, batch, True, 2, 3)
    plain, _ = _updates(members, batch, False, 0, 2)
    distilled, _ = _updates(members, batch, True, 0, 1)
    # steps 0 and 1: exactly the no-distillation update (the distillation loss is logged)
    for (w_late, kd), (w_plain, _) in zip(late[:2], plain):
        for a, b in zip(w_late, w_plain):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        assert np.all(kd[1:] > 0)
    # the very first step of a run with distill_start=0 differs (the distillation pulls)
    assert any(not np.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(distilled[0][0], plain[0][0]))
    # step 2 distils: its update differs from a third no-distillation step, without a re-trace
    plain3, _ = _updates(members, batch, False, 0, 3)
    assert any(not np.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(late[2][0], plain3[2][0]))
    assert traces == 1
    with pytest.raises(ValueError, match="distill_start"):
        _toy_step(tf.distribute.get_strategy(), ToyNet(), keras.optimizers.SGD(0.1), members, True, -1)


def test_bn_recalibration_is_a_cumulative_average():
    keras.utils.set_random_seed(1)
    model = ToyNet()
    batches = [toy_batch(seed=s)["image"] * (s + 1) for s in range(3)]
    arch = np.array([6], np.int32)
    assert recalibrate_bn(model, arch, batches) == 3
    feats = [np.array(model.conv1(b, out_channels=6)) for b in batches]
    expect_mean = np.mean([f.mean(axis=(0, 1, 2)) for f in feats], axis=0)
    expect_var = np.mean([f.var(axis=(0, 1, 2)) for f in feats], axis=0)
    np.testing.assert_allclose(np.array(model.bn.moving_mean)[:6], expect_mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.array(model.bn.moving_variance)[:6], expect_var, rtol=1e-4)
    np.testing.assert_array_equal(np.array(model.bn.moving_mean)[6:], 0.0)  # reset, untouched
    assert float(model.bn.momentum_var) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="no batches"):
        recalibrate_bn(model, arch, [])


def test_model_dir_checkpoint_holds_every_variable(tmp_path):
    """Blocks live in nested lists that tf.train.Checkpoint(model=...) does not reach;
    the model directory's checkpoint must still restore every weight and BN statistic."""
    from vipnas_tf.testing.model_dirs import make_supernet_dir
    from vipnas_tf.training.model_dir import load_model

    net = make_supernet_dir(str(tmp_path / "run"), "mobilenetv3", (64, 64), randomize=True, seed=5)
    loaded, config = load_model(str(tmp_path / "run"), expect_mode="supernet")
    assert config["space"] == "mobilenetv3"
    assert len(loaded.weights) == len(net.weights)
    for a, b in zip(net.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


def test_config_paths_are_made_absolute(tmp_path, monkeypatch):
    """A run started with relative data paths records absolute ones, so a search or an
    export started from another working directory still finds the data."""
    import os

    from vipnas_tf.training import TrainConfig

    monkeypatch.chdir(tmp_path)
    cfg = TrainConfig(train_ann="data/train.json", train_images="data/img", val_ann="", init_from="runs/a")
    out = cfg.with_absolute_paths()
    assert out.train_ann == os.path.join(str(tmp_path), "data", "train.json")
    assert out.init_from == os.path.join(str(tmp_path), "runs", "a")
    assert out.val_ann == "" and cfg.train_ann == "data/train.json"  # empty stays empty; the original is unchanged
