r"""Writes the deeplab2 wide-ResNet fixtures of tests/checkpoints (not run
by CI).

The fixtures are data produced by running deeplab2's public code
(github:google-research/deeplab2, `model/encoder/axial_resnet_instances.py`);
the tests read them without deeplab2. Run it with deeplab2 importable (its
`.proto` files compiled with grpcio-tools' protoc, the folder holding the
`deeplab2` checkout on PYTHONPATH) and Keras 2 (`TF_USE_LEGACY_KERAS=1`):

    PYTHONPATH=/path/to/parent-of-deeplab2 TF_USE_LEGACY_KERAS=1 \
        python tools/make_deeplab2_wide_fixtures.py \
        --output tests/fixtures/deeplab2_wide

It writes to --output:

* `<name>/ckpt-1.*`: a reduced encoder (`TINY` below: deeplab2's own
  width and layer multipliers) with random weights and random batch-norm
  statistics (moving mean and variance, gamma, beta), saved as deeplab2's
  trainer saves the encoder (`tf.train.Checkpoint(encoder=...)`, keys
  `encoder/...`). Every checkpoint keeps each tensor's key and value but
  not the object graph (`_CHECKPOINTABLE_OBJECT_GRAPH`, which the reader
  drops; it was most of the bytes): `slim` re-saves the tensors.
* `outputs.npz`: for each reduced model and each input size of `SIZES`,
  the float input image `<name>/<h>x<w>/image` and deeplab2's inference
  (training=False) endpoints `<name>/<h>x<w>/res1` .. `res5` (and
  `backbone_output`, the stacked decoder's, for `DECODER_TINY`), computed
  by a model built on that size with the checkpoint's weights (deeplab2's
  axial layers run only at the size they were built on). The reduced
  encoders are `TINY` and `DECODER_TINY` (MaX-DeepLab-L's ImageNet
  encoder).
* `<whole>/ckpt-1.*` for each reduced whole Cityscapes model of `WHOLE`
  (deeplab2's config with the backbone multipliers of `WHOLE` and the
  decoder and head channels of `make_deeplab2_fixtures.REDUCED`, tables
  of `REDUCED_MAX_SPAN`), saved as
  deeplab2's trainer saves (`tf.train.Checkpoint(**model.checkpoint_items)`),
  and in `outputs.npz` its uint8 images `<whole>/<h>x<w>/image` at the
  sizes `WHOLE_SIZES` and inference outputs `semantic_logits`,
  `center_heatmap`, `offset_map`.
* `fixtures.json`: for each reduced model, the deeplab2 backbone name and
  the keyword arguments it was built with; under `whole`, each reduced
  whole model's backbone multipliers, reduced decoder channels and
  `max_span` (our `max_distance` is `max_span - 1`).
* `manifests.json.gz`: for each full-size backbone of `FULL` and whole
  model of `FULL_WHOLE`, the name -> shape manifest of its checkpoint
  (deeplab2 trainer layout: `encoder/...` and the decoder items, without
  `/.ATTRIBUTES/VARIABLE_VALUE`) and its trainable parameter count.
  `--full a,b` rebuilds only those manifests and keeps the others of the
  existing file; `--skip_full` writes none.
"""

import argparse
import gzip
import json
import os
import shutil
import tempfile

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import sys  # pylint: disable=g-import-not-at-top

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

import deeplab2  # pylint: disable=g-import-not-at-top
from deeplab2.data import dataset  # pylint: disable=g-import-not-at-top
from deeplab2.model import deeplab  # pylint: disable=g-import-not-at-top
from deeplab2.model.encoder import axial_resnet_instances  # pylint: disable=g-import-not-at-top
from deeplab2.model.layers import positional_encodings  # pylint: disable=g-import-not-at-top

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_deeplab2_fixtures  # pylint: disable=g-import-not-at-top,wrong-import-position

# The Cityscapes configs' block-group options (model.proto defaults where
# the config sets nothing).
_GROUP = dict(use_squeeze_and_excite=False, use_sac_beyond_stride=-1)
TINY = {
    # Layer multiplier 0.67: two blocks in stage 5, the second dilated;
    # width 0.01: base widths round(0.64, 1.28, 2.56, 5.12).
    'swidernet_tiny': dict(
        name='swidernet', output_stride=16, stem_width_multiplier=0.03125,
        width_multiplier=0.01, backbone_layer_multiplier=0.67,
        block_group_config=dict(drop_path_keep_prob=0.8,
                                drop_path_schedule='linear', **_GROUP)),
}
# MaX-DeepLab-L-Backbone's ImageNet encoder (`classification_mode`, its
# transformer path off): the wide ResNet plus its stacked decoder, whose
# activated output is the endpoint `backbone_output`. Output stride 32:
# the decoder runs strides 16, 8, 4, 8, 16, 32 (six stages; a strided axial
# block opens stage 5). Width 1/64: every decoder block has at least one
# channel per conv (deeplab2 floors `64 * stride * width / 4`); layer
# multiplier 0.34 as the reduced whole model; to keep the file small, the
# axial blocks have MaX-DeepLab-S's expansions (2, 1, 2 instead of 4, 2,
# 4; the whole model's fixture has MaX-L's) and 4 heads (one key channel
# per head at stride 16). Written after `WHOLE`, so the older fixtures'
# random draws are unchanged.
DECODER_TINY = {
    'max_deeplab_l_backbone_tiny': dict(
        name='max_deeplab_l_backbone', output_stride=32,
        stem_width_multiplier=0.03125, width_multiplier=0.015625,
        backbone_layer_multiplier=0.34, block_group_config=dict(
            attention_bottleneck_expansion=2,
            axial_layer_config=dict(key_expansion=1, value_expansion=2,
                                    num_heads=4), **_GROUP)),
}
SIZES = ((17, 17), (12, 20))
# A whole model runs at sizes k * 16 + 1 (deeplab2's crops, 1025 x 2049);
# other sizes follow each model's own resize convention.
WHOLE_SIZES = ((17, 17), (17, 33))
# Reduced whole Cityscapes models: config stem -> backbone multipliers.
# Layer multiplier 0.34: stage 4 is one strided conv block, stage 5 one
# axial block; width 0.008: base widths round(0.512, 1.024, 2.048, 4.096),
# so stage 5's attention has 8 key and 16 value channels (8 heads).
# MaX-DeepLab-L-Backbone's checkpoints hold the same tensors plus its
# stacked decoder (the tests check that mapping with the full-size
# manifest's names).
WHOLE = {
    'axial_swidernet_1_1_1_os16': dict(
        stem_width_multiplier=0.03125, backbone_width_multiplier=0.008,
        backbone_layer_multiplier=0.34),
}
# The reduced models' relative-position tables: deeplab2's
# `positional_encodings.MAX_SPAN` (255: 509-row tables) set to 4 (7 rows),
# more than the axial layers' lengths at `WHOLE_SIZES` (at most 3, global
# attention), so no offset is clipped.
REDUCED_MAX_SPAN = 4
FULL = {
    'swidernet': dict(name='swidernet', output_stride=16),
    'axial_swidernet': dict(name='axial_swidernet', output_stride=16),
    'max_deeplab_l_backbone': dict(name='max_deeplab_l_backbone',
                                   output_stride=16),
    'max_deeplab_l_backbone_os32': dict(name='max_deeplab_l_backbone',
                                        output_stride=32),
}
FULL_WHOLE = ('axial_swidernet_1_1_1_os16', 'axial_swidernet_1_1_3_os16',
              'axial_swidernet_1_1_4.5_os16', 'max_deeplab_l_backbone_os16')
_SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE'


def build(options, size=SIZES[0]):
  """deeplab2's model, built on a `size` input. Its axial-attention layers
  fix their sequence length when built (a later call on another size
  reshapes the sequences wrongly), so each input size gets its own
  model."""
  options = dict(options)
  model = axial_resnet_instances.get_model(options.pop('name'), **options)
  model(tf.zeros([1, *size, 3]), training=False)
  return model


def slim(path):
  """Re-saves checkpoint `path` (a prefix) without its object graph: the
  same keys and values, a third of the bytes."""
  reader = tf.train.load_checkpoint(path)
  names = sorted(n for n in reader.get_variable_to_shape_map()
                 if n != '_CHECKPOINTABLE_OBJECT_GRAPH')
  tensors = [tf.constant(reader.get_tensor(n)) for n in names]
  directory = os.path.dirname(path)
  for stale in os.listdir(directory):
    os.remove(os.path.join(directory, stale))
  tf.raw_ops.SaveV2(prefix=path, tensor_names=names,
                    shape_and_slices=[''] * len(names), tensors=tensors)


def randomize(model, rng):
  """Random weights, and random batch-norm statistics and affine terms."""
  for variable in model.variables:
    shape = variable.shape.as_list()
    name = variable.name
    if 'moving_variance' in name or 'gamma' in name:
      value = rng.uniform(0.5, 1.5, shape)
    elif 'moving_mean' in name or 'beta' in name:
      value = rng.normal(0.0, 0.2, shape)
    else:
      fan_in = int(np.prod(shape[:-1])) or 1
      value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
    variable.assign(value.astype(np.float32))


def whole_model(name, size, reduced=True):
  """deeplab2's whole model of config `name`, reduced as `WHOLE` says or
  full-size."""
  config = make_deeplab2_fixtures._config(  # pylint: disable=protected-access
      os.path.dirname(deeplab2.__file__), reduced,
      f'configs/cityscapes/axial_deeplab/{name}.textproto')
  for key, value in (WHOLE[name] if reduced else {}).items():
    setattr(config.model_options.backbone, key, value)
  if reduced:  # post-processing's top-k centers fit a 17 x 17 image
    config.evaluator_options.keep_k_centers = 100
  model = deeplab.DeepLab(config, dataset.CITYSCAPES_PANOPTIC_INFORMATION)
  model(tf.zeros([1, *size, 3]), training=False)
  return model


def write_encoder(name, options, output, rng, outputs, extra=()):
  """A reduced encoder's checkpoint and its endpoints `res1` .. `res5` and
  `extra` at `SIZES`."""
  model = build(options)
  randomize(model, rng)
  path = tf.train.Checkpoint(encoder=model).write(
      os.path.join(output, name, 'ckpt-1'))
  for height, width in SIZES:
    sized = build(options, (height, width))
    tf.train.Checkpoint(encoder=sized).read(path).assert_consumed()
    if (height, width) == SIZES[-1]:
      slim(path)
    image = rng.normal(0.0, 1.0, (1, height, width, 3)).astype(np.float32)
    endpoints = sized(image, training=False)
    prefix = f'{name}/{height}x{width}'
    outputs[f'{prefix}/image'] = image
    for key in [f'res{level}' for level in range(1, 6)] + list(extra):
      outputs[f'{prefix}/{key}'] = endpoints[key].numpy()


def write_whole(name, output, rng, outputs):
  model = whole_model(name, WHOLE_SIZES[0])
  randomize(model, rng)
  path = tf.train.Checkpoint(**model.checkpoint_items).write(
      os.path.join(output, name, 'ckpt-1'))
  for height, width in WHOLE_SIZES:
    # One model per size (deeplab2's axial layers fix their length).
    sized = whole_model(name, (height, width))
    tf.train.Checkpoint(**sized.checkpoint_items).read(
        path).assert_consumed()
    if (height, width) == WHOLE_SIZES[-1]:
      slim(path)
    image = rng.integers(0, 256, (1, height, width, 3)).astype(np.uint8)
    result = sized(tf.constant(image, tf.float32), training=False)
    prefix = f'{name}/{height}x{width}'
    outputs[f'{prefix}/image'] = image
    for key in ('semantic_logits', 'center_heatmap', 'offset_map'):
      outputs[f'{prefix}/{key}'] = result[key].numpy()


def manifest(model, items=None):
  """Name -> shape of `tf.train.Checkpoint(**items)` (default the encoder
  `model`), and the trainable parameter count."""
  directory = tempfile.mkdtemp()
  try:
    path = tf.train.Checkpoint(**(items or dict(encoder=model))).write(
        os.path.join(directory, 'ckpt'))
    shapes = {name[:-len(_SUFFIX)]: shape
              for name, shape in tf.train.list_variables(path)
              if name.endswith(_SUFFIX)}
  finally:
    shutil.rmtree(directory)
  count = int(sum(np.prod(v.shape) for v in model.trainable_variables))
  return dict(variables=shapes, trainable_parameters=count)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--output', required=True)
  parser.add_argument('--skip_full', action='store_true',
                      help='write only the reduced models')
  parser.add_argument('--full', default='',
                      help='comma-separated full-size manifests to rebuild '
                           '(default all); the others are kept from the '
                           'existing manifests.json.gz')
  args = parser.parse_args()
  os.makedirs(args.output, exist_ok=True)
  full_span = positional_encodings.MAX_SPAN
  positional_encodings.MAX_SPAN = REDUCED_MAX_SPAN
  rng = np.random.default_rng(0)
  outputs = {}
  for name, options in TINY.items():
    write_encoder(name, options, args.output, rng, outputs)
  for name in WHOLE:
    write_whole(name, args.output, rng, outputs)
  for name, options in DECODER_TINY.items():
    write_encoder(name, options, args.output, rng, outputs,
                  ('backbone_output',))
  np.savez_compressed(os.path.join(args.output, 'outputs.npz'), **outputs)
  with open(os.path.join(args.output, 'fixtures.json'), 'w') as f:
    whole = {name: dict(backbone=backbone,
                        reduced=make_deeplab2_fixtures.REDUCED,
                        max_span=REDUCED_MAX_SPAN)
             for name, backbone in WHOLE.items()}
    json.dump(dict(TINY, **DECODER_TINY, whole=whole), f, indent=1,
              sort_keys=True)
  if args.skip_full:
    return
  positional_encodings.MAX_SPAN = full_span
  path = os.path.join(args.output, 'manifests.json.gz')
  wanted = set(args.full.split(',')) if args.full else set(FULL) | set(
      FULL_WHOLE)
  manifests = {}
  if args.full:
    with gzip.open(path, 'rt') as f:
      manifests = json.load(f)
  for name, options in FULL.items():
    if name in wanted:
      manifests[name] = manifest(build(options))
  for name in FULL_WHOLE:
    if name not in wanted:
      continue
    model = whole_model(name, SIZES[0], reduced=False)
    manifests[name] = manifest(model, model.checkpoint_items)
    del model
  with gzip.open(path, 'wt') as f:
    json.dump(manifests, f, indent=0, sort_keys=True)


if __name__ == '__main__':
  main()
