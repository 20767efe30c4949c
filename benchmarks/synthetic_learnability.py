r"""Learnability check of the synthetic shapes data (not the project model).

Trains a small plain-CNN network with Panoptic-DeepLab heads (semantic
[B, H, W, 5], center [B, H, W, 1], offsets [B, H, W, 2]; bootstrapped CE
over the hardest 20% x1, center MSE x200, offset L1 x0.01) on the synthetic
dataset for a fixed wall-clock budget on CPU. Then it groups predictions
with numpy post-processing (center threshold 0.1, 7x7 max-pool NMS, each
thing pixel to the nearest center of pixel + offset, majority class) and
prints PQ on the val split, plus the PQ of the same post-processing applied
to the ground-truth targets (an upper bound that checks the targets).
Asserts nothing.

  python benchmarks/synthetic_learnability.py --image_size=96 --budget_s=200
"""

import os
import tempfile
import time

from absl import app
from absl import flags
import numpy as np
from scipy import ndimage
import tensorflow as tf
import tf_keras

from axial_deeplab_tf import dataloaders
from axial_deeplab_tf.configs import panoptic as panoptic_config
from axial_deeplab_tf.dataloaders import synthetic

flags.DEFINE_integer('image_size', 96, 'Synthetic image side.')
flags.DEFINE_float('sigma', 8.0, 'Center heatmap sigma.')
flags.DEFINE_float('budget_s', 200.0, 'Training wall-clock seconds.')
flags.DEFINE_integer('threads', 2, 'TF intra-op threads.')
FLAGS = flags.FLAGS
NUM_CLASSES = 5
DIVISOR = 256


def _conv(x, channels, stride=1):
  x = tf_keras.layers.Conv2D(channels, 3, stride, padding='same',
                             use_bias=False)(x)
  return tf_keras.layers.ReLU()(tf_keras.layers.BatchNormalization()(x))


def build_model() -> tf_keras.Model:
  """A 4-level conv encoder-decoder with three heads at input resolution."""
  inputs = tf_keras.Input([None, None, 3])
  s2 = _conv(_conv(inputs, 24), 32, 2)
  s4 = _conv(_conv(s2, 48, 2), 48)
  s8 = _conv(_conv(s4, 96, 2), 96)
  s16 = _conv(_conv(s8, 128, 2), 128)
  x = s16
  for skip, channels in ((s8, 96), (s4, 64), (s2, 48)):
    x = tf_keras.layers.UpSampling2D(2, interpolation='bilinear')(x)
    x = _conv(tf_keras.layers.Concatenate()([x, skip]), channels)

  def head(channels):
    h = tf_keras.layers.Conv2D(channels, 1)(_conv(x, 32))
    return tf_keras.layers.UpSampling2D(2, interpolation='bilinear')(h)
  return tf_keras.Model(inputs, [head(NUM_CLASSES), head(1), head(2)])


def losses(model, batch):
  semantic, center, offsets = model(batch['image'], training=True)
  label = batch['semantic']
  valid = tf.cast(label != 255, tf.float32)
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
      tf.where(label == 255, 0, label), semantic)
  ce = tf.reshape(ce * valid * batch['semantic_weights'], [-1])
  k = tf.cast(tf.cast(tf.size(ce), tf.float32) * 0.2, tf.int32)
  semantic_loss = tf.reduce_mean(tf.math.top_k(ce, k).values)
  cw, ow = batch['center_weights'], batch['offset_weights']
  center_loss = tf.reduce_sum(
      tf.square(center - batch['center_heatmap'])[..., 0] * cw) / (
          tf.reduce_sum(cw) + 1.0)
  offset_loss = tf.reduce_sum(
      tf.abs(offsets - batch['center_offsets']) * ow[..., None]) / (
          tf.reduce_sum(ow) + 1.0)
  return semantic_loss, center_loss, offset_loss


def postprocess(semantic, center, offsets, threshold=0.1, kernel=7):
  """numpy [H, W, K], [H, W, 1], [H, W, 2] -> panoptic ids [H, W]."""
  classes = semantic.argmax(-1)
  heat = center[..., 0]
  peaks = (heat == ndimage.maximum_filter(heat, size=kernel)) & (
      heat > threshold)
  centers = np.argwhere(peaks)
  panoptic = classes * DIVISOR  # stuff: one segment per class
  ys, xs = np.nonzero(classes >= 2)
  if len(centers) and len(ys):
    votes = np.stack([ys, xs], -1) + offsets[ys, xs]
    nearest = np.argmin(((votes[:, None] - centers[None]) ** 2).sum(-1), 1)
    instance = np.zeros(classes.shape, int)
    instance[ys, xs] = nearest + 1
    for j in np.unique(nearest) + 1:
      mask = instance == j
      majority = np.bincount(classes[mask], minlength=NUM_CLASSES).argmax()
      panoptic[mask] = majority * DIVISOR + j
  return panoptic


def panoptic_quality(ground_truths, predictions):
  """Mean PQ over classes and per-class PQ (IoU > 0.5 matching)."""
  tp, fp, fn, iou = (np.zeros(NUM_CLASSES) for _ in range(4))
  for gt, pred in zip(ground_truths, predictions):
    gt_segments = {s: gt == s for s in np.unique(gt) if s >= 0}
    pred_segments = {s: pred == s for s in np.unique(pred) if s >= 0}
    matched_gt, matched_pred = set(), set()
    for a, mask_a in gt_segments.items():
      for b, mask_b in pred_segments.items():
        if a // DIVISOR != b // DIVISOR:
          continue
        overlap = (mask_a & mask_b).sum() / (mask_a | mask_b).sum()
        if overlap > 0.5:
          tp[a // DIVISOR] += 1
          iou[a // DIVISOR] += overlap
          matched_gt.add(a)
          matched_pred.add(b)
    for a in set(gt_segments) - matched_gt:
      fn[a // DIVISOR] += 1
    for b in set(pred_segments) - matched_pred:
      fp[b // DIVISOR] += 1
  denominator = tp + 0.5 * fp + 0.5 * fn
  per_class = np.where(denominator > 0,
                       iou / np.maximum(denominator, 1e-9), np.nan)
  return np.nanmean(per_class), per_class


def main(argv):
  del argv
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  size = FLAGS.image_size
  paths = dataloaders.ensure_synthetic_dataset(
      os.path.join(tempfile.gettempdir(), f'axial_synthetic_{size}'),
      400, 100, seed=0, config=dataloaders.SyntheticConfig(image_size=size))
  train = dataloaders.build_panoptic_dataset(panoptic_config.PanopticDataConfig(
      input_path=paths['train'], crop_size=[size, size], min_scale=0.75,
      max_scale=1.25, global_batch_size=16, seed=0, sigma=FLAGS.sigma,
      cache=True), synthetic.ENCODING)
  model = build_model()
  optimizer = tf_keras.optimizers.Adam(2e-3)

  @tf.function
  def step(batch):
    with tf.GradientTape() as tape:
      parts = losses(model, batch)
      total = parts[0] + 200.0 * parts[1] + 0.01 * parts[2]
    grads = tape.gradient(total, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return parts

  start, steps = time.time(), 0
  for batch in train:
    parts = step(batch)
    steps += 1
    if steps % 100 == 0:
      print(f'step {steps} {time.time() - start:.0f}s losses '
            f'{[round(float(p), 4) for p in parts]}', flush=True)
    if time.time() - start > FLAGS.budget_s:
      break
  print(f'{steps} steps in {time.time() - start:.0f}s on '
        f'{os.cpu_count()} CPUs')
  evaluation = dataloaders.build_panoptic_dataset(
      panoptic_config.PanopticDataConfig(
          input_path=paths['val'], is_training=False, global_batch_size=20,
          eval_pad_size=[size, size], sigma=FLAGS.sigma), synthetic.ENCODING)
  gts, preds, upper = [], [], []
  for batch in evaluation:
    outputs = [o.numpy() for o in model(batch['image'], training=False)]
    b = {k: v.numpy() for k, v in batch.items()}
    for j in range(len(b['image'])):
      gts.append(b['panoptic'][j])
      preds.append(postprocess(*(o[j] for o in outputs)))
      one_hot = np.eye(NUM_CLASSES)[np.minimum(b['semantic'][j],
                                               NUM_CLASSES - 1)]
      upper.append(postprocess(one_hot, b['center_heatmap'][j],
                               b['center_offsets'][j]))
  pq, per_class = panoptic_quality(gts, preds)
  print(f'val PQ {pq:.3f} per class {np.round(per_class, 3).tolist()}')
  pq, _ = panoptic_quality(gts, upper)
  print(f'val PQ of ground-truth targets through the same grouping {pq:.3f}')


if __name__ == '__main__':
  app.run(main)
