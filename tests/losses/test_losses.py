"""Losses against independent numpy computations of the same formulas."""

import fractions
import math

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.losses import cross_entropy as bce_lib
from axial_deeplab_tf.losses import panoptic_loss
from axial_deeplab_tf.losses import regression_losses

IGNORE = 255


def np_cross_entropy(labels, logits):
  """Per-pixel softmax CE; labels must be valid class ids."""
  logits = logits.astype(np.float64)
  m = logits.max(-1, keepdims=True)
  log_z = np.log(np.exp(logits - m).sum(-1)) + m[..., 0]
  picked = np.take_along_axis(logits, labels[..., None], -1)[..., 0]
  return log_z - picked


def np_bootstrapped(labels, logits, weights, top_k_percent):
  """Per image: hardest ceil(p * n_valid) weighted losses; mean over all."""
  total, count = 0.0, 0
  p = fractions.Fraction(str(top_k_percent))
  for b in range(labels.shape[0]):
    valid = labels[b] != IGNORE
    safe = np.where(valid, labels[b], 0)
    loss = np_cross_entropy(safe, logits[b])
    if weights is not None:
      loss = loss * weights[b]
    losses = np.sort(loss[valid])[::-1]
    k = math.ceil(p * len(losses))
    total += losses[:k].sum()
    count += k
  return total / count if count else 0.0


def random_inputs(seed, batch=2, height=9, width=7, classes=5):
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(batch, height, width, classes)).astype(np.float32)
  labels = rng.integers(0, classes, size=(batch, height, width))
  labels[rng.random(labels.shape) < 0.3] = IGNORE
  weights = rng.choice([1.0, 3.0, 0.5], size=labels.shape).astype(np.float32)
  return labels.astype(np.int32), logits, weights


@pytest.mark.parametrize('top_k_percent', [0.2, 0.3, 0.5, 1.0])
@pytest.mark.parametrize('use_weights', [False, True])
def test_bootstrapped_matches_numpy(top_k_percent, use_weights):
  labels, logits, weights = random_inputs(seed=1)
  weights = weights if use_weights else None
  got = bce_lib.bootstrapped_cross_entropy(labels, logits, weights,
                                           ignore_label=IGNORE,
                                           top_k_percent=top_k_percent)
  want = np_bootstrapped(labels, logits, weights, top_k_percent)
  np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def test_bootstrapped_topk_differs_from_mean_and_uses_per_image_k():
  # Image 0: 10 valid pixels, image 1: 5 valid pixels. With p = 0.2,
  # k = (2, 1): the loss is the mean of the 3 selected pixel losses.
  labels = np.full((2, 1, 10), IGNORE, np.int32)
  labels[0, 0, :] = 0
  labels[1, 0, :5] = 0
  logits = np.zeros((2, 1, 10, 2), np.float32)
  margins0 = np.arange(10, dtype=np.float32)  # logit of class 1 - class 0
  margins1 = np.array([5, 4, 3, 2, 1, 9, 9, 9, 9, 9], np.float32)
  logits[0, 0, :, 1] = margins0
  logits[1, 0, :, 1] = margins1
  ce = lambda m: np.log1p(np.exp(m))  # CE of class 0 with logits (0, m)
  want = (ce(9.0) + ce(8.0) + ce(5.0)) / 3
  got = bce_lib.bootstrapped_cross_entropy(labels, logits, top_k_percent=0.2)
  np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
  # ...and differs from the plain mean.
  mean = bce_lib.bootstrapped_cross_entropy(labels, logits, top_k_percent=1.0)
  want_mean = (ce(margins0).sum() + ce(margins1[:5]).sum()) / 15
  np.testing.assert_allclose(mean.numpy(), want_mean, rtol=1e-6)


def test_bootstrapped_weights_change_selection():
  # Unweighted, pixel 0 is hardest; weight 10 on pixel 1 makes it hardest.
  labels = np.zeros((1, 1, 4), np.int32)
  logits = np.zeros((1, 1, 4, 2), np.float32)
  logits[0, 0, :, 1] = [3.0, 1.0, 0.0, -1.0]
  weights = np.array([[[1.0, 10.0, 1.0, 1.0]]], np.float32)
  got = bce_lib.bootstrapped_cross_entropy(labels, logits, weights,
                                           top_k_percent=0.25)
  np.testing.assert_allclose(got.numpy(), 10 * np.log1p(np.exp(1.0)),
                             rtol=1e-6)


def test_bootstrapped_all_ignored_is_finite_zero_with_zero_gradient():
  labels = np.full((2, 4, 4), IGNORE, np.int32)
  logits = tf.Variable(np.random.default_rng(0).normal(
      size=(2, 4, 4, 3)).astype(np.float32))
  for p in (0.2, 1.0):
    with tf.GradientTape() as tape:
      loss = bce_lib.bootstrapped_cross_entropy(labels, logits,
                                                top_k_percent=p)
    grad = tape.gradient(loss, logits)
    assert loss.numpy() == 0.0
    assert np.all(np.isfinite(grad.numpy())) and np.all(grad.numpy() == 0)


def test_bootstrapped_labels_with_channel_axis_and_float16_logits():
  labels, logits, weights = random_inputs(seed=2)
  got = bce_lib.bootstrapped_cross_entropy(
      labels[..., None], tf.constant(logits, tf.float16), weights[..., None])
  assert got.dtype == tf.float32
  want = np_bootstrapped(labels, logits.astype(np.float16).astype(np.float32),
                         weights, 0.2)
  np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def test_bootstrapped_jit_compile_matches_eager():
  labels, logits, weights = random_inputs(seed=3)
  fn = tf.function(bce_lib.bootstrapped_cross_entropy, jit_compile=True)
  np.testing.assert_allclose(fn(labels, logits, weights).numpy(),
                             np_bootstrapped(labels, logits, weights, 0.2),
                             rtol=1e-5)


def test_bootstrapped_rejects_bad_percent():
  with pytest.raises(ValueError, match='top_k_percent'):
    bce_lib.BootstrappedCrossEntropy(top_k_percent=0.0)
  with pytest.raises(ValueError, match='top_k_percent'):
    bce_lib.BootstrappedCrossEntropy(top_k_percent=1.5)


def test_weighted_mse_and_masked_l1_match_numpy():
  rng = np.random.default_rng(4)
  pred_c = rng.normal(size=(2, 5, 6, 1)).astype(np.float32)
  true_c = rng.random(size=(2, 5, 6, 1)).astype(np.float32)
  w_c = rng.choice([0.0, 1.0], size=(2, 5, 6)).astype(np.float32)
  pred_o = rng.normal(size=(2, 5, 6, 2)).astype(np.float32) * 4
  true_o = rng.normal(size=(2, 5, 6, 2)).astype(np.float32) * 4
  w_o = rng.choice([0.0, 1.0, 2.0], size=(2, 5, 6)).astype(np.float32)
  want_c = (w_c * (pred_c - true_c)[..., 0] ** 2).sum() / w_c.sum()
  want_o = (w_o * np.abs(pred_o - true_o).sum(-1)).sum() / w_o.sum()
  np.testing.assert_allclose(
      regression_losses.weighted_mse(true_c, pred_c, w_c).numpy(), want_c,
      rtol=1e-5)
  np.testing.assert_allclose(
      regression_losses.masked_l1(true_o, pred_o, w_o).numpy(), want_o,
      rtol=1e-5)
  # No weights: plain means.
  np.testing.assert_allclose(
      regression_losses.weighted_mse(true_c, pred_c).numpy(),
      ((pred_c - true_c) ** 2).mean(), rtol=1e-5)


def test_regression_losses_empty_masks_are_finite_zero():
  pred = tf.Variable(tf.ones([1, 4, 4, 2]))
  zeros = tf.zeros([1, 4, 4])
  with tf.GradientTape() as tape:
    l1 = regression_losses.masked_l1(tf.zeros([1, 4, 4, 2]), pred, zeros)
    mse = regression_losses.weighted_mse(tf.zeros([1, 4, 4, 1]),
                                         pred[..., :1], zeros)
    total = l1 + mse
  grad = tape.gradient(total, pred).numpy()
  assert l1.numpy() == 0.0 and mse.numpy() == 0.0
  assert np.all(np.isfinite(grad)) and np.all(grad == 0)


def test_panoptic_loss_combines_with_default_weights():
  labels, logits, sem_w = random_inputs(seed=5, classes=4)
  rng = np.random.default_rng(5)
  shape = labels.shape
  y_true = {
      'semantic': labels, 'semantic_weights': sem_w,
      'center_heatmap': rng.random(shape + (1,)).astype(np.float32),
      'center_weights': rng.choice([0.0, 1.0], size=shape).astype(np.float32),
      'center_offsets': rng.normal(size=shape + (2,)).astype(np.float32),
      'offset_weights': rng.choice([0.0, 1.0], size=shape).astype(np.float32),
  }
  y_pred = {
      'semantic_logits': logits,
      'center_heatmap': rng.random(shape + (1,)).astype(np.float32),
      'center_offsets': rng.normal(size=shape + (2,)).astype(np.float32),
  }
  want_s = np_bootstrapped(labels, logits, sem_w, 0.2)
  cw, ow = y_true['center_weights'], y_true['offset_weights']
  want_c = (cw * (y_pred['center_heatmap'] - y_true['center_heatmap'])[
      ..., 0] ** 2).sum() / cw.sum()
  want_o = (ow * np.abs(y_pred['center_offsets'] -
                        y_true['center_offsets']).sum(-1)).sum() / ow.sum()
  got = panoptic_loss.PanopticLoss()(y_true, y_pred)
  np.testing.assert_allclose(got['semantic_loss'].numpy(), want_s, rtol=1e-5)
  np.testing.assert_allclose(got['center_loss'].numpy(), want_c, rtol=1e-5)
  np.testing.assert_allclose(got['offset_loss'].numpy(), want_o, rtol=1e-5)
  np.testing.assert_allclose(got['total_loss'].numpy(),
                             want_s + 200 * want_c + 0.01 * want_o, rtol=1e-5)
  custom = panoptic_loss.PanopticLoss(semantic_weight=2.0, center_weight=3.0,
                                      offset_weight=0.5, top_k_percent=1.0)
  got = custom(y_true, y_pred)
  want_s1 = np_bootstrapped(labels, logits, sem_w, 1.0)
  np.testing.assert_allclose(got['total_loss'].numpy(),
                             2 * want_s1 + 3 * want_c + 0.5 * want_o,
                             rtol=1e-5)
  again = panoptic_loss.PanopticLoss.from_config(custom.get_config())
  assert again.get_config() == custom.get_config()


def test_panoptic_loss_semantic_only_and_no_things():
  labels, logits, _ = random_inputs(seed=6)
  loss = panoptic_loss.PanopticLoss()
  got = loss({'semantic': labels}, {'semantic_logits': logits})
  assert got['center_loss'].numpy() == 0 and got['offset_loss'].numpy() == 0
  np.testing.assert_allclose(got['total_loss'].numpy(),
                             np_bootstrapped(labels, logits, None, 0.2),
                             rtol=1e-5)
  shape = labels.shape
  got = loss({'semantic': np.full(shape, IGNORE, np.int32),
              'center_heatmap': np.zeros(shape + (1,), np.float32),
              'center_weights': np.zeros(shape, np.float32),
              'center_offsets': np.zeros(shape + (2,), np.float32),
              'offset_weights': np.zeros(shape, np.float32)},
             {'semantic_logits': logits,
              'center_heatmap': np.ones(shape + (1,), np.float32),
              'center_offsets': np.ones(shape + (2,), np.float32)})
  assert got['total_loss'].numpy() == 0.0


def test_panoptic_loss_rejects_negative_weight():
  with pytest.raises(ValueError, match='center_weight'):
    panoptic_loss.PanopticLoss(center_weight=-1.0)
