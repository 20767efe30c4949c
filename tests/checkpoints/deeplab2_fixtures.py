"""The deeplab2 fixtures (tests/fixtures/deeplab2, written by
tools/make_deeplab2_fixtures.py) and the configs of ours that fit them;
shared by test_deeplab2.py (reader, whole model) and
test_deeplab2_encoders.py (ImageNet encoders).

* `TINY`: fixtures.json (reduced settings, sizes, folders);
  `path(name)`: a fixture file or folder; `full_manifests()`: the
  name -> shape manifests of deeplab2's full-size models;
  `images(size)`: the input of that size scaled as deeplab2 scales it,
  and every stored output.
* `override()`: our config of the reduced whole model
  (`decoder_override(reduced)`: its decoder part);
  `encoder_override(stage_blocks, reduced)`: the same with the backbone of
  a reduced encoder (deeplab2 kwargs `reduced`).
* `relative_error`, `assert_backbone_matches(model, key)`: our stride-16
  features against deeplab2's `<size>/<key>` at both sizes, 1e-4
  relative.
"""

import functools
import gzip
import json
import os

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, 'fixtures',
                        'deeplab2')
with open(os.path.join(FIXTURES, 'fixtures.json')) as _f:
  TINY = json.load(_f)
OS16 = 'max_deeplab_s_backbone_os16'


def path(name):
  return os.path.join(FIXTURES, name)


@functools.lru_cache(maxsize=None)
def full_manifests():
  """{model: {'variables': {key: shape}, 'trainable': count}} of
  deeplab2's full-size models."""
  with gzip.open(path('full_manifests.json.gz'), 'rt') as f:
    return json.load(f)


def images(size):
  outputs = np.load(path('outputs.npz'))
  return outputs[f'{size}/image'].astype(np.float32) / 127.5 - 1, outputs


def relative_error(ours, reference):
  return float(np.max(np.abs(ours - reference)) /
               np.max(np.abs(reference)))


def override():
  """Our config for the reduced deeplab2 model (fixtures.json): its
  blocks per stage (deeplab2's layer multiplier 0.34 of (3, 4, 6, 3)),
  widths, relative-position tables (deeplab2's `MAX_SPAN` m: 2m - 1
  rows, our `max_distance` m - 1) and decoder channels."""
  r = TINY['reduced']
  return {'task': {'model': {
      'backbone': {'axial_resnet': {
          'stage_blocks': [1, 1, 2, 1],
          'width_multiplier': r['backbone_width_multiplier'],
          'stem_width': int(64 * r['stem_width_multiplier']),
          'max_distance': TINY['max_span'] - 1}},
      'decoder': decoder_override(r)}}}


def decoder_override(r):
  """Our `task.model.decoder` for the decoder channels `r` of a reduced
  deeplab2 config (the `reduced` dict of a fixtures.json)."""
  return {'semantic_aspp_channels': r['aspp_channels'],
          'semantic_low_level_channels': [c for _, c in r['low_level']],
          'semantic_decoder_channels': r['decoder_channels'],
          'semantic_head_channels': r['semantic_head_channels'],
          'instance_aspp_channels': r['instance_decoder_channels'],
          'instance_low_level_channels': [
              c for _, c in r['instance_low_level']],
          'instance_decoder_channels': r['instance_decoder_channels'],
          'center_head_channels': r['instance_head_channels'],
          'offset_head_channels': r['instance_head_channels']}


def encoder_override(stage_blocks, reduced):
  """`override()` (its small decoder, not imported, builds fast) with the
  backbone of a reduced deeplab2 encoder built with kwargs `reduced`
  (width and stem multipliers, heads in `axial_layer_config` or
  `block_group_config.axial_layer_config`)."""
  config = override()
  layer = (reduced.get('axial_layer_config') or
           reduced['block_group_config']['axial_layer_config'])
  config['task']['model']['backbone']['axial_resnet'] = {
      'stage_blocks': list(stage_blocks),
      'width_multiplier': reduced['width_multiplier'],
      'stem_width': int(64 * reduced['stem_width_multiplier']),
      'max_distance': TINY['max_span'] - 1,
      'num_heads': layer['num_heads']}
  return config


def assert_backbone_matches(model, key):
  """`model.backbone`'s stride-16 features equal deeplab2's stored
  `<size>/<key>` at both fixture sizes (inference mode)."""
  for h, w in TINY['sizes']:
    size = f'{h}x{w}'
    inputs, outputs = images(size)
    features = model.backbone(inputs, training=False)['5'].numpy()
    expected = outputs[f'{size}/{key}']
    assert features.shape == expected.shape, size
    assert relative_error(features, expected) < 1e-4, size
