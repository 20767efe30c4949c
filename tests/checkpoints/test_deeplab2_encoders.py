"""deeplab2's ImageNet encoders (issue 10): the full-size manifests of
every importable encoder map completely onto our rows, and reduced
encoders (tests/fixtures/deeplab2, deeplab2_fixtures.py) equal deeplab2:
`axial_deeplab_l` (Model Garden layout; also restored by
`task.init_checkpoint`), `axial_resnet_s` (the 7x7 stem, the subsampled
shortcut) and `axial_resnet50` (GeLU). Three models are built, one per
reduced encoder, each by the importer's Python API.
"""

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.checkpoints import deeplab2
from axial_deeplab_tf.checkpoints import deeplab2_reader
from axial_deeplab_tf.checkpoints import importer
from axial_deeplab_tf.modeling.backbones import variants
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.train import experiment
import deeplab2_fixtures as d2
import import_checks


def _reference_variables(variant, decoder=True):
  """Our whole model's variables (name -> shape) from the architecture:
  a three-conv stem (c, c, 2c; c = 64) or a 7x7 conv of 64 channels; per
  block f = 64 * 2**stage * width: a conv bottleneck (1x1 to f, 3x3, 1x1
  to 4f) below `axial_beyond_stride`, an axial one (1x1 to 2f, attention
  q/k f and v 2f over h heads with 509-row tables, 1x1 to 4f) beyond; a
  shortcut where channels change; the decoders (1x1 context,
  projections, 5x5 separable fusions) and the heads at the experiment's
  default channels."""
  heads = variant.num_heads
  shapes = {}
  def norm(name, shape):
    shapes.update(import_checks.batch_norm_shapes(name, shape))
  def conv(name, shape, bn=None):
    shapes[f'{name}/kernel'] = shape
    norm(bn or name + '_bn', (shape[-1],))
  c = 64
  if variant.stem == 'conv7x7':
    conv('stem/conv7x7/conv', (7, 7, 3, c), 'stem/conv7x7/bn')
    channels = c
  else:
    for i, (cin, cout) in enumerate(((3, c), (c, c), (c, 2 * c))):
      conv(f'stem/conv{i + 1}/conv', (3, 3, cin, cout),
           f'stem/conv{i + 1}/bn')
    channels = 2 * c
  features = {}
  for stage, count in enumerate(variant.stage_blocks):
    f = int(64 * 2**stage * variant.width_multiplier)
    for index in range(count):
      block = f'stage{stage + 1}_block{index + 1}'
      nominal = 2**(stage + 1) if index == 0 else 2**(stage + 2)
      if nominal >= (variant.axial_beyond_stride or 0):
        conv(f'{block}/reduce', (1, 1, channels, 2 * f))
        for axis in ('height', 'width'):
          shapes.update(import_checks.attention_shapes(
              f'{block}/attention/{axis}', 2 * f, f, 2 * f, heads, 509))
        conv(f'{block}/expand', (1, 1, 2 * f, 4 * f))
      else:
        conv(f'{block}/reduce', (1, 1, channels, f))
        conv(f'{block}/conv3x3', (3, 3, f, f))
        conv(f'{block}/expand', (1, 1, f, 4 * f))
      if channels != 4 * f:
        conv(f'{block}/shortcut', (1, 1, channels, 4 * f))
      channels = 4 * f
    features[str(stage + 2)] = channels
  if not decoder:
    return shapes
  def separable(name, cin, cout):
    shapes[f'{name}/depthwise/depthwise_kernel'] = (5, 5, cin, 1)
    norm(f'{name}/depthwise_norm', (cin,))
    shapes[f'{name}/pointwise/kernel'] = (1, 1, cin, cout)
    norm(f'{name}/pointwise_norm', (cout,))
  for branch, low, width in (('semantic', (64, 32), 256),
                             ('instance', (32, 16), 128)):
    d = f'{branch}_decoder'
    conv(f'{d}/context/conv', (1, 1, features['5'], 256), f'{d}/context/norm')
    x = 256
    for key, project in zip(('3', '2'), low):
      conv(f'{d}/project_{key}/conv', (1, 1, features[key], project),
           f'{d}/project_{key}/norm')
      separable(f'{d}/fuse_{key}', x + project, width)
      x = width
  for head, cin, hidden, out in (('semantic_head', 256, 256, 19),
                                 ('center_head', 128, 32, 1),
                                 ('offset_head', 128, 32, 2)):
    separable(f'{head}/features', cin, hidden)
    shapes[f'{head}/predict/kernel'] = (1, 1, hidden, out)
    shapes[f'{head}/predict/bias'] = (out,)
  return shapes


# deeplab2's trainable parameter counts, counted here by building its
# full-size models (tools/make_deeplab2_fixtures.py).
@pytest.mark.parametrize('name, trainable', [
    (d2.OS16, 42788486), ('max_deeplab_s_backbone', 41343424),
    ('axial_deeplab_l', 43841920), ('axial_deeplab_s', 11565856),
    ('axial_resnet_l', 43714048), ('axial_resnet_s', 11466912),
    ('axial_resnet50', 41343424)])
def test_full_size_manifest_maps_completely(name, trainable):
  """Every variable of deeplab2's full-size model (the whole
  max_deeplab_s_backbone_os16; the ImageNet encoders) has its place in
  our model of the row `deeplab2_<backbone>`, and every one of ours its
  deeplab2 tensor, with the right shape; the trainable parameter counts
  agree."""
  manifest = d2.full_manifests()[name]
  backbone = 'max_deeplab_s_backbone' if name == d2.OS16 else name
  variant = variants.get_variant(f'deeplab2_{backbone}')
  ours = _reference_variables(variant, decoder=deeplab2.KNOWN[name].whole)
  used = import_checks.mapped_keys(
      ours, manifest['variables'],
      lambda v, shape: deeplab2.source(v, variant.num_heads, shape))
  assert used == set(manifest['variables'])
  count = sum(int(np.prod(s)) for n, s in ours.items()
              if not n.endswith(('moving_mean', 'moving_variance')))
  assert count == manifest['trainable'] == trainable


def test_imagenet_encoder_imports_as_backbone_for_init_checkpoint(tmp_path):
  """deeplab2's axial_deeplab_l ImageNet encoder (every block axial, the
  first of each stage strided), reduced, in the Model Garden layout:
  imported as a backbone, its stride-16 features equal deeplab2's
  `backbone_output` at both sizes; `task.init_checkpoint` with
  `init_checkpoint_modules: backbone` restores the written folder (into
  the imported model, its backbone zeroed first); read as a whole model,
  the folder is refused."""
  # deeplab2's layer multiplier 0.34 of (3, 4, 6, 3)
  override = d2.encoder_override([1, 1, 2, 1], d2.TINY['axial_deeplab_l'])
  output = str(tmp_path / 'l')
  garden = d2.path(d2.TINY['axial_deeplab_l_garden'])
  result = importer.import_checkpoint('deeplab2', garden, 'axial_deeplab_l',
                                      output, override)
  assert result.experiment == 'deeplab2_axial_deeplab_l_cityscapes'
  assert result.num_tensors == len(deeplab2_reader.read(garden))
  model = result.model
  d2.assert_backbone_matches(model, 'axial_deeplab_l_output')
  params = experiment.load_experiment(result.experiment,
                                      params_override=override)
  params.task.init_checkpoint = output
  params.task.init_checkpoint_modules = 'backbone'
  saved = [v.numpy() for v in model.backbone.variables]
  for variable in model.backbone.variables:
    variable.assign(tf.zeros_like(variable))
  summary = checkpoint_restore.init_from_checkpoint(
      model, params.task, checkpoint_restore.PANOPTIC_MODULES)
  assert summary['restored'] == ['backbone']
  for variable, value in zip(model.backbone.variables, saved):
    np.testing.assert_array_equal(variable.numpy(), value)
  with pytest.raises(checkpoint_restore.CheckpointError,
                     match='does not fit this model'):
    checkpoint_restore.restore_checkpoint(model, output, '--checkpoint_path')


@pytest.mark.parametrize('name', sorted(d2.TINY['encoders']))
def test_reduced_encoders_of_the_new_options_match_deeplab2(name, tmp_path):
  """deeplab2's axial_resnet_s (its 7x7/2 stem without max-pool; stage 2's
  strided first block keeps its 4 channels, so deeplab2 adds its input
  subsampled and the file has no shortcut conv there) and axial_resnet50
  (kMaX-DeepLab's encoder, exact GeLU), reduced, in deeplab2's trainer
  layout: `--model=<name>` imports every tensor into the backbone of its
  experiment, whose stride-16 features equal deeplab2's `backbone_output`
  at both sizes (inference mode)."""
  reduced = d2.TINY['encoders'][name]
  override = d2.encoder_override(reduced['num_blocks'], reduced)
  path = d2.path(reduced['folder'])
  state = deeplab2_reader.read(path)
  if name == 'axial_resnet_s':
    assert not any(k.startswith('encoder/_stage2/_block1/_shortcut')
                   for k in state)
  result = importer.import_checkpoint('deeplab2', path, name,
                                      str(tmp_path / 'out'), override)
  assert result.experiment == f'deeplab2_{name}_cityscapes'
  assert result.num_tensors == len(state)
  d2.assert_backbone_matches(result.model, f'{name}_output')
