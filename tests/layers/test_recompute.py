"""Recompute in the backward pass (`layers.recompute`): a training step of
a recomputed block or model gives what the plain step gives (Keras'
own autodiff and batch-norm updates are the reference), and recomputes.
The memory it saves and its behaviour under a 2-replica strategy are
checked in a child interpreter (`recompute_child.py`)."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import blocks
from axial_deeplab_tf.layers import recompute
from axial_deeplab_tf.layers import stems
from axial_deeplab_tf.modeling import panoptic_deeplab

HERE = pathlib.Path(__file__).parent


def _loss(outputs):
  # Weights that differ per element, so that no gradient is a plain sum.
  total = 0.0
  for o in tf.nest.flatten(outputs):
    o = tf.cast(o, tf.float32)
    weights = tf.sin(tf.reshape(tf.range(tf.size(o), dtype=tf.float32),
                                tf.shape(o)))
    total += tf.reduce_sum(o * weights)
  return total


def _step_results(layer, x):
  """Output, gradients (input, then trainable weights) and the
  non-trainable weights after one traced training call."""
  tf.random.set_seed(0)

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      out = layer(x, training=True)
      loss = _loss(out)
    return out, tape.gradient(loss, [x] + layer.trainable_weights)
  out, grads = step(x)
  graph = step.get_concrete_function(x).graph
  convs = sum(op.type == 'Conv2D' for op in graph.get_operations())
  return dict(out=tf.nest.map_structure(np.asarray, out),
              grads=[np.asarray(g) for g in grads],
              stats=[w.numpy() for w in layer.non_trainable_weights],
              convs=convs)


def _assert_same(got, want):
  for a, b in zip(tf.nest.flatten(got['out']), tf.nest.flatten(want['out'])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  assert len(got['grads']) == len(want['grads'])
  for a, b in zip(got['grads'], want['grads']):
    scale = np.abs(b).max() + 1e-6
    np.testing.assert_allclose(a / scale, b / scale, atol=1e-5)
  # The moving statistics moved once, as in the plain step (a second
  # update while recomputing would move them about twice as far).
  assert len(got['stats']) == len(want['stats']) > 0
  for a, b in zip(got['stats'], want['stats']):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _twin_blocks(make):
  plain, again = make(False), make(True)
  x = tf.random.stateless_normal([2, 9, 11, 16], (1, 2))
  plain(x)
  again(x)
  again.set_weights(plain.get_weights())
  return plain, again, x


@pytest.mark.parametrize('kind', ['conv', 'axial'])
def test_recomputed_block_step_equals_plain(kind):
  """A strided bottleneck with a projection shortcut (conv), or an axial
  one with recomputed attention (`recompute`, nested) and drop path (the
  random mask drawn once, outside the recomputed part)."""
  def make(recompute_block):
    if kind == 'conv':
      return blocks.ConvBottleneckBlock(
          8, strides=2, recompute_block=recompute_block)
    block = blocks.AxialBottleneckBlock(
        4, span=None, num_heads=2, max_distance=8, recompute=True,
        drop_path_keep_prob=0.5,
        recompute_block=recompute_block)
    block.drop_path.seed = 7
    return block
  plain, again, x = _twin_blocks(make)
  # The last BN's gamma starts at zero; open the residual branch.
  for block in (plain, again):
    block.expand_norm.gamma.assign(tf.fill(block.expand_norm.gamma.shape,
                                           0.5))
  want, got = _step_results(plain, x), _step_results(again, x)
  _assert_same(got, want)
  # Recomputed: every convolution of the block runs twice.
  assert got['convs'] == 2 * want['convs'] > 0


def test_inference_and_plain_calls_do_not_recompute():
  plain, again, x = _twin_blocks(
      lambda r: blocks.ConvBottleneckBlock(4, recompute_block=r))
  for training in (False, None):
    np.testing.assert_allclose(again(x, training=training),
                               plain(x, training=training), rtol=1e-6)
  calls = []
  def fn(x, training=None):
    calls.append(training)
    return 2.0 * x
  assert recompute.maybe_recompute(True, False, fn, x).shape == x.shape
  assert calls == [False]


def _tiny_panoptic(recompute_on):
  """PanopticDeepLab over a tiny backbone: a three-conv stem (stride 2)
  and strided convs to the stride-4, -8 and -16 features."""
  tf.random.set_seed(0)
  images = tf_keras.Input([None, None, 3])
  x = stems.ThreeConvStem([4, 4, 8], recompute_stem=recompute_on)(images)
  features = {}
  for level, channels in (('2', 8), ('3', 8), ('5', 16)):
    x = tf_keras.layers.Conv2D(channels, 3, 2, padding='same')(x)
    features[level] = x
  backbone = tf_keras.Model(images, features)
  model = panoptic_deeplab.PanopticDeepLab(
      backbone, 3, semantic_aspp_channels=8, semantic_decoder_channels=8,
      semantic_head_channels=8, semantic_low_level_channels=(4, 4),
      instance_aspp_channels=8, instance_decoder_channels=8,
      instance_low_level_channels=(4, 4), center_head_channels=4,
      offset_head_channels=4, recompute_decoder=recompute_on)
  model(tf.zeros([1, 33, 33, 3]))
  return model


def test_recomputed_stem_and_decoder_step_equals_plain():
  """The stem (`recompute_stem`) and both decoder branches with their
  heads (`recompute_decoder`) recomputed, against the plain model."""
  plain, again = _tiny_panoptic(False), _tiny_panoptic(True)
  again.set_weights(plain.get_weights())
  x = tf.random.stateless_normal([2, 33, 49, 3], (3, 4))
  want, got = _step_results(plain, x), _step_results(again, x)
  _assert_same(got, want)
  assert got['convs'] == 2 * want['convs'] - 3  # the backbone's 3 convs


def test_memory_and_replicas_in_a_child():
  """Chains of conv bottlenecks: per block, the forward pass keeps for the
  backward pass well under two thirds as much with recompute as without
  (TF's own allocator statistics);
  under a 2-replica MirroredStrategy with synchronized batch norms the
  recomputed step equals the plain one."""
  out = subprocess.run(
      [sys.executable, str(HERE / 'recompute_child.py')],
      capture_output=True, text=True, timeout=600, check=False)
  lines = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
  assert lines, out.stderr[-3000:]
  result = json.loads(lines[-1][len('RESULT '):])
  plain, again = result['per_block_plain'], result['per_block_recompute']
  # Per block (a [1, 96, 96, 64] input; 2.4 MB per 64-channel tensor,
  # 0.6 MB per 16-channel one), a plain forward keeps every conv's,
  # batch norm's and ReLU's output its gradients need: 9.4 MB measured.
  # With recompute the branches keep only their input; the block's
  # residual sum and ReLU, outside the recomputed part, keep one more
  # 64-channel tensor: 4.75 MB measured (both the same in every run: the
  # eager forward has no scheduling freedom).
  assert again < 0.6 * plain, result
  assert result['replica_max_difference'] < 1e-5, result
  assert result['replica_stats_difference'] < 1e-6, result
