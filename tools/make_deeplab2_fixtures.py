r"""Writes the deeplab2 fixtures of tests/checkpoints (not run by CI).

The fixtures are data produced by running deeplab2's public code
(github:google-research/deeplab2); the tests read them without deeplab2.
This script needs a deeplab2 checkout whose `.proto` files are compiled
(grpcio-tools' protoc), its parent folder on PYTHONPATH and TF's legacy
Keras, e.g.

    PYTHONPATH=/path/to/parent_of_deeplab2 TF_USE_LEGACY_KERAS=1 \
        python tools/make_deeplab2_fixtures.py \
        --output tests/fixtures/deeplab2

It writes to --output (every model has random weights AND random batch-norm
moving statistics, seed fixed; the reduced models are built with deeplab2's
`positional_encodings.MAX_SPAN` set to `REDUCED_MAX_SPAN` (relative-position
tables of `2 * MAX_SPAN - 1` rows instead of 509: every offset at the
fixture sizes still has its own row; ours: `max_distance` `MAX_SPAN - 1`)):

* `tiny_os16_trainer/ckpt-1.*`: a reduced `max_deeplab_s_backbone_os16`
  whole model (deeplab2's config, stem width x1/8, backbone width x1/32,
  backbone layers x0.34 -> blocks (1, 1, 2, 1), decoder and head channels
  reduced as listed in `fixtures.json`) saved the way deeplab2's trainer
  saves (`tf.train.Checkpoint(global_step=..., **model.checkpoint_items,
  optimizer=...)`, an SGD-with-momentum optimizer after one step, so the
  file holds optimizer slots).
* `tiny_axial_deeplab_l_garden/ckpt-1.*`: a reduced `axial_deeplab_l`
  ImageNet encoder (stem width x1/8, width x1/32, layers x0.34, 2 heads)
  in the Model Garden vision trainer's layout that deeplab2's
  `maybe_load_checkpoint` reads (`backbone/_encoder/...`).
* `tiny_axial_resnet_s/ckpt-1.*`: a reduced `axial_resnet_s` ImageNet
  encoder (deeplab2's 7x7/2 'resnet' stem; `REDUCED_ENCODERS`: stem width
  x1/16 -> 4 channels, width x1/64, one block per stage, one head, so
  that `_stage2`'s strided first block keeps its 4 channels and adds its
  input subsampled) in deeplab2's trainer layout (`encoder/...`; written
  without `tf.train.Checkpoint`'s object graph, which no reader of names
  sees, to keep it small).
* `tiny_axial_resnet50/ckpt-1.*`: a reduced `axial_resnet50`, kMaX-DeepLab's
  GeLU pixel encoder (`model/pixel_encoder/axial_resnet.py`, built with
  deeplab2's `axial_resnet50` and the block settings of its `get_model`,
  output stride 16 as our experiment; `REDUCED_ENCODERS`), written the
  same way (kMaX-DeepLab's `checkpoint_items['encoder']`).
* `outputs.npz`: uint8 images at two sizes and the whole model's
  inference outputs on them (`semantic_logits`, `center_heatmap`,
  `offset_map`, keys `<size>/<output>`), the classification-mode
  `backbone_output` endpoint of a separately built reduced
  `max_deeplab_s_backbone` holding the whole model's encoder weights, and
  the reduced encoders' (`<size>/<name>_output` for `axial_deeplab_l`,
  `axial_resnet_s`, `axial_resnet50`).
* `fixtures.json`: the reduced settings, input sizes, file names and the
  number of variables of the reduced model and of its encoder.
* `full_manifests.json.gz`: for each full-size model (the whole
  `max_deeplab_s_backbone_os16`; the encoders `max_deeplab_s_backbone`,
  `axial_resnet_s`, `axial_resnet_l`, `axial_deeplab_s`, `axial_deeplab_l`,
  `axial_resnet50`; deeplab2's own `MAX_SPAN`) the name -> shape manifest
  of its checkpoint variables (deeplab2 trainer layout,
  `.ATTRIBUTES/VARIABLE_VALUE` removed) and its trainable parameter count.
"""

import argparse
import gzip
import json
import os
import shutil

import numpy as np
import tensorflow as tf

SEED = 10
CONFIG = 'configs/cityscapes/axial_deeplab/max_deeplab_s_backbone_os16.textproto'
# Reduced whole model: multipliers of deeplab2's BackboneOptions and the
# channel counts of the decoder config.
REDUCED = dict(stem_width_multiplier=0.125, backbone_width_multiplier=1 / 32,
               backbone_layer_multiplier=0.34, decoder_channels=16,
               aspp_channels=16, low_level=(('res3', 8), ('res2', 4)),
               instance_low_level=(('res3', 4), ('res2', 4)),
               instance_decoder_channels=8, instance_head_channels=8,
               semantic_head_channels=16)
# Reduced ImageNet encoder `axial_deeplab_l` (every block axial, strided
# axial first blocks): deeplab2's kwargs override its config.
REDUCED_AXIAL_DEEPLAB_L = dict(stem_width_multiplier=0.125,
                               width_multiplier=1 / 32,
                               backbone_layer_multiplier=0.34,
                               block_group_config=dict(
                                   axial_layer_config=dict(num_heads=2)))
SIZES = ((17, 33), (33, 17))
# Table reach of the reduced models: offsets up to 8 occur at SIZES.
REDUCED_MAX_SPAN = 10
ENCODERS = ('max_deeplab_s_backbone', 'axial_resnet_s', 'axial_resnet_l',
            'axial_deeplab_s', 'axial_deeplab_l', 'axial_resnet50')
# Reduced encoders of the new options (the 7x7 stem with the strided
# identity shortcut; GeLU), as small as deeplab2 builds them: stage
# widths 4 * (1, 2, 4, 8), one block per stage.
REDUCED_ENCODERS = {
    'axial_resnet_s': dict(stem_width_multiplier=1 / 16,
                           width_multiplier=1 / 64, num_blocks=[1, 1, 1, 1],
                           block_group_config=dict(
                               axial_layer_config=dict(num_heads=1))),
    'axial_resnet50': dict(stem_width_multiplier=1 / 16,
                           width_multiplier=1 / 64, num_blocks=[1, 1, 1, 1],
                           output_stride=16, axial_layer_config=dict(
                               num_heads=2)),
}


def _randomize(variables, rng):
  """Random weights and random batch-norm statistics (positive variances)."""
  for v in variables:
    shape = v.shape.as_list()
    if 'moving_variance' in v.name:
      value = rng.uniform(0.5, 2.0, shape)
    elif 'gamma' in v.name:
      value = rng.uniform(0.5, 1.5, shape)
    elif 'moving_mean' in v.name or 'beta' in v.name:
      value = rng.normal(0.0, 0.2, shape)
    else:
      fan_in = np.prod(shape[:-1]) if len(shape) > 1 else 1
      value = rng.normal(0.0, 1.0 / np.sqrt(max(fan_in, 1)), shape)
    v.assign(value.astype(np.float32))


def _config(root, reduced, path=CONFIG):
  """deeplab2's config at `path` (relative to `root`), optionally with the
  `REDUCED` backbone multipliers and decoder channels."""
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from deeplab2 import config_pb2  # pylint: disable=g-import-not-at-top
  config = config_pb2.ExperimentOptions()
  with open(os.path.join(root, path)) as f:
    text_format.Parse(f.read(), config)
  if not reduced:
    return config
  r = REDUCED
  model = config.model_options
  model.backbone.stem_width_multiplier = r['stem_width_multiplier']
  model.backbone.backbone_width_multiplier = r['backbone_width_multiplier']
  model.backbone.backbone_layer_multiplier = r['backbone_layer_multiplier']
  model.decoder.decoder_channels = r['decoder_channels']
  model.decoder.aspp_channels = r['aspp_channels']
  pd = model.panoptic_deeplab
  for option, (_, channels) in zip(pd.low_level, r['low_level']):
    option.channels_project = channels
  for option, (_, channels) in zip(pd.instance.low_level_override,
                                   r['instance_low_level']):
    option.channels_project = channels
  pd.instance.instance_decoder_override.decoder_channels = (
      r['instance_decoder_channels'])
  pd.instance.instance_decoder_override.aspp_channels = (
      r['instance_decoder_channels'])
  pd.instance.center_head.head_channels = r['instance_head_channels']
  pd.instance.regression_head.head_channels = r['instance_head_channels']
  pd.semantic_head.head_channels = r['semantic_head_channels']
  return config


def _whole_model(root, reduced, size=(33, 33)):
  from deeplab2.data import dataset  # pylint: disable=g-import-not-at-top
  from deeplab2.model import deeplab  # pylint: disable=g-import-not-at-top
  model = deeplab.DeepLab(_config(root, reduced),
                          dataset.CITYSCAPES_PANOPTIC_INFORMATION)
  model(tf.zeros([1, *size, 3]), training=False)
  return model


def _pixel_encoder(reduced, size):
  """kMaX-DeepLab's `axial_resnet50` pixel encoder, built as its
  `get_model` does (drop path keep 1.0 and a linear schedule; inference
  ignores both), optionally reduced."""
  from deeplab2.model.pixel_encoder import axial_resnet  # pylint: disable=g-import-not-at-top
  kwargs = dict(REDUCED_ENCODERS['axial_resnet50']) if reduced else {}
  block_group_config = dict(drop_path_schedule='linear',
                            drop_path_keep_prob=1.0)
  if 'axial_layer_config' in kwargs:
    block_group_config['axial_layer_config'] = kwargs.pop(
        'axial_layer_config')
  encoder = axial_resnet.axial_resnet50(
      name='axial_resnet50', block_group_config=block_group_config,
      bn_layer=tf.keras.layers.BatchNormalization, **kwargs)
  encoder(tf.zeros([1, *size, 3]), training=False)
  return encoder


def _encoder(name, reduced, size=(33, 33)):
  from deeplab2.model.encoder import axial_resnet_instances  # pylint: disable=g-import-not-at-top
  if name == 'axial_resnet50':
    return _pixel_encoder(reduced, size)
  kwargs = {}
  if reduced and name in REDUCED_ENCODERS:
    kwargs = REDUCED_ENCODERS[name]
  elif reduced and name == 'axial_deeplab_l':
    kwargs = REDUCED_AXIAL_DEEPLAB_L
  elif reduced:
    kwargs = dict(stem_width_multiplier=REDUCED['stem_width_multiplier'],
                  width_multiplier=REDUCED['backbone_width_multiplier'],
                  backbone_layer_multiplier=REDUCED[
                      'backbone_layer_multiplier'])
  encoder = axial_resnet_instances.get_model(
      name, bn_layer=tf.keras.layers.BatchNormalization, **kwargs)
  encoder(tf.zeros([1, *size, 3]), training=False)
  return encoder


def _manifest(items):
  """name -> shape of `tf.train.Checkpoint(**items)`'s variables."""
  import tempfile  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as folder:
    path = tf.train.Checkpoint(**items).write(os.path.join(folder, 'ckpt'))
    suffix = '/.ATTRIBUTES/VARIABLE_VALUE'
    return {name[:-len(suffix)]: shape
            for name, shape in tf.train.list_variables(path)
            if name.endswith(suffix)}


def _images(rng):
  return {f'{h}x{w}': rng.integers(0, 256, [1, h, w, 3]).astype(np.uint8)
          for h, w in SIZES}


def _save(checkpoint, folder):
  shutil.rmtree(folder, ignore_errors=True)
  manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=1)
  return manager.save(checkpoint_number=1)


def _save_tensors_only(checkpoint, folder):
  """`_save`, then the file rewritten without the object graph that
  `tf.train.Checkpoint` adds (`_CHECKPOINTABLE_OBJECT_GRAPH`, most of a
  tiny model's bytes): the same keys and tensors, which is all that a
  reader of names (`tf.train.load_checkpoint`) sees."""
  import tempfile  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as scratch:
    reader = tf.train.load_checkpoint(_save(checkpoint, scratch))
    names = sorted(n for n in reader.get_variable_to_shape_map()
                   if n != '_CHECKPOINTABLE_OBJECT_GRAPH')
    tensors = [reader.get_tensor(n) for n in names]
  shutil.rmtree(folder, ignore_errors=True)
  os.makedirs(folder)
  tf.raw_ops.SaveV2(prefix=os.path.join(folder, 'ckpt-1'),
                    tensor_names=names, shape_and_slices=[''] * len(names),
                    tensors=tensors)
  tf.compat.v1.train.update_checkpoint_state(folder, 'ckpt-1')


def _set_max_span(span):
  from deeplab2.model.layers import positional_encodings  # pylint: disable=g-import-not-at-top
  positional_encodings.MAX_SPAN = span


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--deeplab2', default=None,
                      help='deeplab2 folder (default: the imported one)')
  parser.add_argument('--output', required=True)
  parser.add_argument('--skip_manifests', action='store_true')
  args = parser.parse_args()
  import deeplab2  # pylint: disable=g-import-not-at-top
  root = args.deeplab2 or os.path.dirname(deeplab2.__file__)
  os.makedirs(args.output, exist_ok=True)
  rng = np.random.default_rng(SEED)
  tf.keras.utils.set_random_seed(SEED)
  from deeplab2.model.layers import positional_encodings  # pylint: disable=g-import-not-at-top
  max_span = positional_encodings.MAX_SPAN
  _set_max_span(REDUCED_MAX_SPAN)

  # The reduced whole model, in deeplab2's trainer layout with optimizer
  # slots and a global step.
  model = _whole_model(root, reduced=True)
  _randomize(model.variables, rng)
  images = _images(rng)
  outputs = {}
  for (size, image), hw in zip(images.items(), SIZES):
    # deeplab2's axial layers fix the attended length when they are built,
    # so each input size needs its own model (same weights).
    sized = _whole_model(root, reduced=True, size=hw)
    sized.set_weights(model.get_weights())
    outputs[f'{size}/image'] = image
    result = sized(tf.constant(image, tf.float32), training=False)
    for key in ('semantic_logits', 'center_heatmap', 'offset_map'):
      outputs[f'{size}/{key}'] = result[key].numpy()
  # One optimizer step (learning rate 0) on the heads' last layers only,
  # so that the file holds optimizer slots without tripling its size.
  optimizer = tf.keras.optimizers.SGD(0.0, momentum=0.9)
  heads = [v for key, item in model.checkpoint_items.items()
           if key.endswith('last_layer') for v in item.trainable_variables]
  optimizer.apply_gradients([(tf.ones_like(v), v) for v in heads])
  global_step = tf.Variable(1, dtype=tf.int64, name='global_step')
  _save(tf.train.Checkpoint(global_step=global_step,
                            **model.checkpoint_items, optimizer=optimizer),
        os.path.join(args.output, 'tiny_os16_trainer'))

  # The same encoder's classification-mode endpoint.
  encoder = model.checkpoint_items['encoder']
  for (size, image), hw in zip(images.items(), SIZES):
    sized = _encoder('max_deeplab_s_backbone', reduced=True, size=hw)
    sized.set_weights(encoder.get_weights())
    endpoints = sized(tf.constant(image, tf.float32) / 127.5 - 1.0,
                      training=False)
    outputs[f'{size}/backbone_output'] = endpoints['backbone_output'].numpy()
  # A reduced axial_deeplab_l encoder (Model Garden layout).
  encoder_l = _encoder('axial_deeplab_l', reduced=True)
  _randomize(encoder_l.variables, rng)
  for (size, image), hw in zip(images.items(), SIZES):
    sized = _encoder('axial_deeplab_l', reduced=True, size=hw)
    sized.set_weights(encoder_l.get_weights())
    endpoints = sized(tf.constant(image, tf.float32) / 127.5 - 1.0,
                      training=False)
    outputs[f'{size}/axial_deeplab_l_output'] = (
        endpoints['backbone_output'].numpy())
  _save(tf.train.Checkpoint(backbone=tf.train.Checkpoint(_encoder=encoder_l)),
        os.path.join(args.output, 'tiny_axial_deeplab_l_garden'))
  # The reduced encoders of the new options (deeplab2 trainer layout).
  for name in REDUCED_ENCODERS:
    reduced = _encoder(name, reduced=True)
    _randomize(reduced.variables, rng)
    for (size, image), hw in zip(images.items(), SIZES):
      sized = _encoder(name, reduced=True, size=hw)
      sized.set_weights(reduced.get_weights())
      endpoints = sized(tf.constant(image, tf.float32) / 127.5 - 1.0,
                        training=False)
      outputs[f'{size}/{name}_output'] = endpoints['backbone_output'].numpy()
    _save_tensors_only(tf.train.Checkpoint(encoder=reduced),
                       os.path.join(args.output, f'tiny_{name}'))
  np.savez_compressed(os.path.join(args.output, 'outputs.npz'), **outputs)

  with open(os.path.join(args.output, 'fixtures.json'), 'w') as f:
    json.dump(dict(seed=SEED, config=CONFIG, reduced=REDUCED,
                   sizes=SIZES, max_span=REDUCED_MAX_SPAN,
                   axial_deeplab_l=REDUCED_AXIAL_DEEPLAB_L,
                   axial_deeplab_l_garden='tiny_axial_deeplab_l_garden',
                   encoders={name: dict(kwargs, folder=f'tiny_{name}')
                             for name, kwargs in REDUCED_ENCODERS.items()},
                   trainer='tiny_os16_trainer',
                   model_variables=len(model.variables),
                   encoder_variables=len(encoder.variables)), f, indent=1)
  if args.skip_manifests:
    return
  _set_max_span(max_span)
  manifests = {}
  full = _whole_model(root, reduced=False)
  manifests['max_deeplab_s_backbone_os16'] = dict(
      variables=_manifest(full.checkpoint_items),
      trainable=int(sum(np.prod(v.shape) for v in full.trainable_variables)))
  for name in ENCODERS:
    encoder = _encoder(name, reduced=False)
    manifests[name] = dict(
        variables=_manifest({'encoder': encoder}),
        trainable=int(sum(np.prod(v.shape)
                          for v in encoder.trainable_variables)))
  with gzip.open(os.path.join(args.output, 'full_manifests.json.gz'),
                 'wt') as f:
    json.dump(manifests, f, separators=(',', ':'), sort_keys=True)


if __name__ == '__main__':
  main()
