"""Drop path (stochastic depth) as deeplab2 schedules and applies it: the
per-block keep probabilities of our wide and axial backbones, and the
per-example drop of a block's residual branch in training only."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.vision.configs import common
from official.vision.modeling.backbones import factory

from axial_deeplab_tf.configs import backbones as backbones_cfg
from axial_deeplab_tf.layers import blocks
from axial_deeplab_tf.layers import drop_path
from axial_deeplab_tf.layers import wide_blocks
from axial_deeplab_tf.modeling.backbones import variants
from axial_deeplab_tf.modeling.backbones import wide_variants
from axial_deeplab_tf.modeling.backbones import wide_resnet


def test_linear_drop_path_schedule_matches_deeplab2_rule():
  # keep = 1 - (1 - 0.8) * stage / 4, stage = log2(input stride) - 1,
  # from stride 4 on (SWideRNet's drop_path_beyond_stride); the first block
  # of a strided stage sits at the previous stride.
  layout = wide_resnet.block_layout(
      wide_variants.WideVariant(drop_path_keep_prob=0.8,
                           drop_path_schedule='linear'))
  keeps = [[b.drop_path_keep_prob for b in stage] for stage in layout]
  expected = [[1.0] * 3, [1.0, 0.95, 0.95], [0.95] + [0.9] * 5,
              [0.9, 0.85, 0.85], [0.85, 0.8, 0.8]]
  for got, want in zip(keeps, expected):
    assert got == pytest.approx(want)
  # Output stride 16: the last stage dilates instead of striding; a
  # stage's first block keeps stride 1 and its later blocks dilate by 2.
  last = layout[4]
  assert [(b.strides, b.atrous_rate) for b in last] == [(1, 1), (1, 2),
                                                        (1, 2)]
  assert [b.channels for b in last] == [(512, 1024, 2048)] * 3


def test_axial_backbone_blocks_get_deeplab2s_schedule():
  """deeplab2's MaX-DeepLab-S Cityscapes setting (0.8, linear, from
  nominal input stride 16, a stage's first block at the previous stride):
  stages of 3, 4, 6, 3 blocks at nominal strides 2, 4.. | 4, 8.. | 8,
  16.. | 16, 32.. keep 1 | 1 | 1, then 1 - 0.2 * 3 / 4 | 0.85, then 0.8.
  The backbone gives each block its keep probability (a reduced conv row
  with the config keys, through Model Garden's factory); a constant
  schedule keeps 0.8 from stride 16."""
  row = variants.get_variant('deeplab2_max_deeplab_s_backbone')
  expected = [[1.0] * 3, [1.0] * 4, [1.0] + [0.85] * 5, [0.85, 0.8, 0.8]]
  assert [[row.block_drop_path_keep_prob(s, b) for b in range(count)]
          for s, count in enumerate(row.stage_blocks)] == [
              pytest.approx(e) for e in expected]
  config = backbones_cfg.Backbone(
      type='axial_resnet', axial_resnet=backbones_cfg.AxialResNet(
          variant='resnet50', stage_blocks=[1, 1, 2, 2],
          width_multiplier=1 / 16, drop_path_keep_prob=0.8,
          drop_path_schedule='linear'))
  model = factory.build_backbone(
      tf_keras.layers.InputSpec(shape=[None, None, None, 3]), config,
      common.NormActivation())
  keeps = [model.get_layer(f'stage{s}_block{b}').drop_path.keep_prob
           for s, count in zip(range(1, 5), (1, 1, 2, 2))
           for b in range(1, count + 1)]
  assert keeps == pytest.approx([1.0, 1.0, 1.0, 0.85, 0.85, 0.8])
  constant = variants.resolve(row, drop_path_schedule='constant')
  assert [constant.block_drop_path_keep_prob(s, b) for s, b in (
      (2, 0), (2, 1), (3, 1))] == [1.0, 0.8, 0.8]
  with pytest.raises(ValueError, match='schedule'):
    variants.resolve(row, drop_path_schedule='cosine')


def test_drop_path_drops_whole_examples_in_training_only():
  x = tf.ones([64, 2, 3, 1])
  layer = drop_path.DropPath(0.75, seed=1)
  assert np.array_equal(layer(x, training=False).numpy(), x.numpy())
  y = layer(x, training=True).numpy()
  per_example = y.reshape(64, -1)
  # Each example is all 0 or all 1 / 0.75.
  assert set(np.unique(per_example.std(axis=1))) == {0.0}
  assert np.all(np.isclose(per_example, 0) |
                np.isclose(per_example, 1 / 0.75))
  assert 0 < (per_example[:, 0] == 0).sum() < 64


@pytest.mark.parametrize('kind', ['conv', 'wide'])
def test_blocks_drop_their_branch_per_example(kind):
  """A block whose last BN has gamma 0 (its initial value) outputs that
  BN's beta as its residual branch, whatever the input and batch
  statistics; with an identity shortcut the block is then, by example i,
  relu(x_i + d_i * beta / keep) for the bottleneck (relu(x_i) + d_i *
  beta / keep for the pre-activation wide block), d_i in {0, 1}, and d_i
  = 1 (no scaling) in inference."""
  keep, batch, channels = 0.5, 32, 8
  rng = np.random.default_rng(0)
  x = rng.normal(size=(batch, 3, 3, channels)).astype(np.float32)
  beta = rng.uniform(0.5, 1.5, channels).astype(np.float32)
  if kind == 'wide':
    block = wide_blocks.ResidualBlock((channels, channels),
                                      drop_path_keep_prob=keep)
    last = lambda: block.branch[-1].bn
    combine = lambda d: np.maximum(x, 0) + d * beta
  else:
    # The axial block shares this skeleton (`blocks._Bottleneck`).
    block = blocks.ConvBottleneckBlock(channels // 4,
                                       drop_path_keep_prob=keep)
    last = lambda: block.expand_norm
    combine = lambda d: np.maximum(x + d * beta, 0)
  block(x[:1])  # builds
  last().beta.assign(beta)
  np.testing.assert_allclose(block(x, training=False).numpy(),
                             combine(np.ones([batch, 1, 1, 1])), atol=1e-5)
  tf.random.set_seed(3)
  got = block(x, training=True).numpy()
  kept = np.abs(got - combine(np.full([batch, 1, 1, 1], 1 / keep)))
  dropped = np.abs(got - combine(np.zeros([batch, 1, 1, 1])))
  kept = kept.reshape(batch, -1).max(1) < 1e-4
  dropped = dropped.reshape(batch, -1).max(1) < 1e-4
  assert np.all(kept ^ dropped)  # each example one or the other
  assert 0 < kept.sum() < batch
