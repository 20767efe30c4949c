"""Every way of building a model gives the same model.

For each registered experiment of ours whose backbone is an Axial-ResNet
(`backbone.type: axial_resnet`; the deeplab2 wide-ResNet experiments are
built through their task in tests/checkpoints/test_deeplab2_wide.py) the
model is built three ways: through the task
(`task_factory.get_task(params.task).build_model()`), through
`factory.build_model` on the config, and through the Python API
(`build_axial_deeplab` / `build_classifier`) with equivalent arguments.
Their variables must agree in name, shape and number.

Full-size models take minutes to build on 2 CPU cores, so every experiment
but the demo (already small, built as registered) gets a tiny
`width_multiplier` / `stage_blocks` / `stem_width` override (the keys one
path used to ignore), checked against hand-computed widths. Experiments
whose tiny configs coincide (the S/M/L/XL rows differ only in width,
which the override sets) are built once per distinct `(task.model,
losses.l2_weight_decay)` with the variant name replaced by the row fields
the override leaves: the three paths read nothing else.
"""

import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.core import exp_factory
from official.core import task_factory

from axial_deeplab_tf import tasks  # pylint: disable=unused-import  (registers the tasks)
from axial_deeplab_tf.configs import classification_experiments  # pylint: disable=unused-import
from axial_deeplab_tf.configs import panoptic_experiments  # pylint: disable=unused-import
from axial_deeplab_tf.modeling import factory
from axial_deeplab_tf.modeling.backbones import variants
from axial_deeplab_tf.train import experiment
import tasks_helpers

EXPERIMENTS = [
    name for name in experiment.our_experiments()
    if exp_factory.get_exp_config(name).task.model.backbone.type ==
    'axial_resnet']
DEMO = 'axial_deeplab_shapes'
# Global attention (span 0) traces fastest.
TINY_BACKBONE = {'width_multiplier': 0.125, 'stage_blocks': [1, 1, 1, 1],
                 'max_distance': 4, 'stem_width': 8, 'span': 0}


def _params(name):
  """The experiment, tiny unless it is the demo."""
  params = exp_factory.get_exp_config(name)
  if name == DEMO:
    return params
  model = {'backbone': {'axial_resnet': TINY_BACKBONE}}
  if hasattr(params.task.model, 'decoder'):
    model['decoder'] = tasks_helpers.TINY_DECODER
  params.override({'task': {'model': model,
                            'losses': {'l2_weight_decay': 1e-4}}},
                  is_strict=True)
  return params


def _groups():
  """Experiment names grouped by what the model builders read."""
  groups = {}
  for name in EXPERIMENTS:
    params = _params(name)
    model = params.task.model.as_dict()
    backbone = model['backbone']['axial_resnet']
    if name != DEMO:
      # The tiny override sets every other field of the variant's row.
      row = variants.get_variant(backbone.pop('variant'))
      backbone['row'] = (row.stem, row.block, row.output_stride,
                         row.stride_mode, row.stem_padding, row.num_heads,
                         row.axial_beyond_stride)
    key = repr((type(params.task).__name__, model,
                params.task.losses.l2_weight_decay))
    groups.setdefault(key, []).append(name)
  return list(groups.values())


GROUPS = _groups()


def _python_api(params):
  """The Python API call equivalent to `params.task.model`."""
  config = params.task.model.as_dict()
  backbone = config.pop('backbone')['axial_resnet']
  variant = backbone.pop('variant')
  kwargs = {k: v for k, v in backbone.items() if v is not None}
  kwargs.update(config)
  l2 = params.task.losses.l2_weight_decay
  if 'thing_class_ids' in config:
    return factory.build_axial_deeplab(variant, l2_weight_decay=l2,
                                       **kwargs)
  return factory.build_classifier(variant, l2_weight_decay=l2, **kwargs)


def _signature(model):
  return [(v.name, tuple(v.shape)) for v in model.variables]


def _build_three_ways(params):
  models = []
  for build in (lambda: task_factory.get_task(params.task).build_model(),
                lambda: factory.build_model(
                    params.task.model, params.task.losses.l2_weight_decay),
                lambda: _python_api(params)):
    tf_keras.backend.clear_session()
    models.append(build())
  return models


def _assert_same(models):
  first = _signature(models[0])
  for model in models[1:]:
    assert _signature(model) == first
    assert len(model.losses) == len(models[0].losses)
  assert models[0].count_params() == models[1].count_params() == (
      models[2].count_params())


def test_every_experiment_is_covered():
  assert sorted(n for g in GROUPS for n in g) == EXPERIMENTS
  assert len(EXPERIMENTS) >= 17 and DEMO in EXPERIMENTS


@pytest.mark.parametrize('names', GROUPS, ids=lambda names: names[0])
def test_three_paths_build_the_same_model(names):
  models = _build_three_ways(_params(names[0]))
  _assert_same(models)
  stages = {m.group(0) for v in models[0].variables
            for m in [re.search(r'stage\d_block\d', v.name)] if m}
  assert stages == {f'stage{s}_block1' for s in range(1, 5)}
  if names == [DEMO]:
    # The demo row: L width / 4; stage 4 (base width 512 / 4) outputs 512.
    assert models[0].backbone.output_specs['5'].as_list()[-1] == 512
    x = np.random.default_rng(0).normal(size=(1, 33, 41, 3)).astype(
        'float32')
    for a, b in zip(models[0].variables, models[2].variables):
      b.assign(a)
    want = models[0](x, training=False)
    got = models[2](x, training=False)
    for key in want:
      np.testing.assert_allclose(got[key].numpy(), want[key].numpy(),
                                 atol=1e-5)
  else:
    # The overrides reached the backbone: one block per stage (above), and
    # stage 4 of base width 512 * 0.125 = 64 outputs 4 * 64 channels.
    assert models[0].backbone.output_specs['5'].as_list()[-1] == 256
    # L2 weight decay reaches the kernels of every path.
    assert len(models[0].losses) > 20


def test_backbone_output_stride_must_agree():
  params = _params('axial_deeplab_s_cityscapes')
  params.override({'task': {'model': {'backbone': {'axial_resnet': {
      'output_stride': 32}}}}})
  with pytest.raises(ValueError, match='output_stride'):
    factory.build_model(params.task.model)


def test_python_api_names_unknown_arguments():
  with pytest.raises(KeyError, match='num_clases'):
    factory.build_classifier('axial_resnet_s', num_clases=3)
  with pytest.raises(ValueError, match=r'backbone\.axial_resnet.*stride_mode'):
    factory.build_classifier('axial_resnet_s', stride_mode='pool',
                             **TINY_BACKBONE)


def test_build_model_rejects_other_configs():
  with pytest.raises(ValueError, match='model: expected'):
    factory.build_model(tf.constant(1))
