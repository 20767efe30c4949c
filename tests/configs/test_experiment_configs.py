"""Registered experiments validate; YAML files and overrides round-trip."""

import glob
import os
import sys
import types

from official.core import exp_factory
from official.modeling import hyperparams
import pytest

from axial_deeplab_tf.configs import classification_experiments  # pylint: disable=unused-import
from axial_deeplab_tf.configs import panoptic_experiments  # pylint: disable=unused-import

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'trainer'))
import preflight  # pylint: disable=g-import-not-at-top,wrong-import-position

PANOPTIC = ([f'axial_deeplab_{s}_cityscapes' for s in ('s', 'm', 'l', 'xl')]
            + [f'axial_deeplab_{s}_coco' for s in 'sml']
            + ['axial_deeplab_shapes'])
CLASSIFICATION = ([f'axial_resnet_{s}_imagenet' for s in ('s', 'm', 'l', 'xl')]
                  + [f'full_axial_resnet_{s}_imagenet'
                     for s in ('s', 'm', 'l', 'xl')]
                  + ['axial_resnet_26s_imagenet'])


@pytest.mark.parametrize('name', PANOPTIC + CLASSIFICATION)
def test_experiment_registered_and_valid(name):
  params = exp_factory.get_exp_config(name)
  params.validate()
  model = params.task.model
  assert model.backbone.type == 'axial_resnet'
  if name in PANOPTIC:
    pp = model.post_processing
    assert pp.top_k < pp.label_divisor
    assert all(0 <= c < model.num_classes for c in model.thing_class_ids)
    assert pp.void_label >= model.num_classes
    assert not hasattr(params.task.train_data, 'label_divisor')


def test_paper_settings():
  city = exp_factory.get_exp_config('axial_deeplab_l_cityscapes')
  assert city.task.model.num_classes == 19
  assert city.task.model.thing_class_ids == list(range(11, 19))
  assert city.task.model.backbone.axial_resnet.variant == 'axial_deeplab_l'
  assert city.task.model.output_stride == 16 and not city.task.model.use_aspp
  assert city.task.train_data.global_batch_size == 32
  assert list(city.task.train_data.crop_size) == [1025, 2049]
  assert city.task.losses.center_weight == 200.0
  assert city.task.losses.offset_weight == 0.01
  lr = city.trainer.optimizer_config.learning_rate.polynomial
  assert lr.initial_learning_rate == 1e-3
  coco = exp_factory.get_exp_config('axial_deeplab_m_coco')
  assert coco.task.model.num_classes == 133
  assert coco.task.model.post_processing.label_divisor == 256
  assert coco.task.model.post_processing.stuff_area_limit == 4096
  imagenet = exp_factory.get_exp_config('full_axial_resnet_s_imagenet')
  assert imagenet.task.model.backbone.axial_resnet.variant == (
      'full_axial_resnet_s')
  assert imagenet.task.losses.label_smoothing == 0.1


def test_every_experiment_has_a_yaml_that_reproduces_it():
  files = sorted(glob.glob(os.path.join(ROOT, 'configs', '*.yaml')))
  names = {os.path.basename(f)[:-5] for f in files}
  assert names == set(PANOPTIC + CLASSIFICATION)
  for path in files:
    name = os.path.basename(path)[:-5]
    default = exp_factory.get_exp_config(name)
    loaded = hyperparams.override_params_dict(
        exp_factory.get_exp_config(name), path, is_strict=True)
    assert loaded.as_dict() == default.as_dict(), path


def test_yaml_override_round_trip(tmp_path):
  params = exp_factory.get_exp_config('axial_deeplab_shapes')
  params.override({'task': {'model': {'post_processing': {'top_k': 17}},
                            'train_data': {'crop_size': [48, 40]}},
                   'trainer': {'train_steps': 33}}, is_strict=True)
  path = str(tmp_path / 'params.yaml')
  hyperparams.save_params_dict_to_yaml(params, path)
  again = hyperparams.override_params_dict(
      exp_factory.get_exp_config('axial_deeplab_shapes'), path,
      is_strict=True)
  assert again.as_dict() == params.as_dict()
  assert again.task.model.post_processing.top_k == 17
  assert list(again.task.train_data.crop_size) == [48, 40]


def _flags(**kwargs):
  base = dict(experiment='axial_deeplab_shapes', config_file=None,
              params_override=None, tpu=None)
  base.update(kwargs)
  return types.SimpleNamespace(**base)


def test_unknown_experiment_is_named():
  with pytest.raises(preflight.ConfigError, match='axial_deeplab_nope'):
    preflight.parse_params(_flags(experiment='axial_deeplab_nope'))


def test_unknown_keys_are_named(tmp_path):
  with pytest.raises(preflight.ConfigError,
                     match=r'task\.model\.num_clases'):
    preflight.parse_params(_flags(params_override='task.model.num_clases=3'))
  path = tmp_path / 'bad.yaml'
  path.write_text('task:\n  train_data:\n    crop_sise: [8, 8]\n')
  with pytest.raises(preflight.ConfigError,
                     match=r'bad\.yaml.*task\.train_data\.crop_sise'):
    preflight.parse_params(_flags(config_file=[str(path)]))
  with pytest.raises(preflight.ConfigError, match='no such file'):
    preflight.parse_params(_flags(config_file=[str(tmp_path / 'x.yaml')]))


def test_missing_input_files_are_named(tmp_path):
  pattern = str(tmp_path / 'nothing-*')
  params = preflight.parse_params(_flags(
      params_override=f'task.train_data.input_path={pattern}'))
  with pytest.raises(preflight.ConfigError,
                     match=r'task\.train_data\.input_path.*nothing-\*'):
    preflight.check_inputs(params, 'train')


def test_summary_interval_must_fit_steps_per_loop():
  with pytest.raises(preflight.ConfigError, match='summary_interval'):
    preflight.parse_params(_flags(
        params_override='trainer.steps_per_loop=3,trainer.summary_interval=5'
    ))
