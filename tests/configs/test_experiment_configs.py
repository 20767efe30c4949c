"""Registered experiments validate; YAML files and overrides round-trip."""

import glob
import math
import os

from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling import optimization
import pytest

from axial_deeplab_tf.train import experiment
from axial_deeplab_tf.train import preflight

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

PANOPTIC = ([f'axial_deeplab_{s}_cityscapes' for s in ('s', 'm', 'l', 'xl')]
            + [f'axial_deeplab_{s}_coco' for s in 'sml']
            + ['axial_deeplab_shapes',
               'deeplab2_max_deeplab_s_backbone_os16_cityscapes',
               'deeplab2_axial_deeplab_l_cityscapes',
               'deeplab2_axial_deeplab_s_cityscapes',
               'deeplab2_axial_resnet_s_cityscapes',
               'deeplab2_axial_resnet_l_cityscapes',
               'deeplab2_axial_resnet50_cityscapes',
               'deeplab2_max_deeplab_l_backbone_os16_cityscapes']
            + [f'deeplab2_axial_swidernet_1_1_{k}_os16_cityscapes'
               for k in ('1', '3', '4.5')])
CLASSIFICATION = ([f'axial_resnet_{s}_imagenet' for s in ('s', 'm', 'l', 'xl')]
                  + [f'full_axial_resnet_{s}_imagenet'
                     for s in ('s', 'm', 'l', 'xl')]
                  + [f'axial_resnet_{n}_imagenet'
                     for n in ('26s', '50s', '50m', '50l')])


@pytest.mark.parametrize('name', PANOPTIC + CLASSIFICATION)
def test_experiment_registered_and_valid(name):
  params = exp_factory.get_exp_config(name)
  params.validate()
  model = params.task.model
  assert model.backbone.type == ('wide_resnet' if 'swidernet' in name or
                                 'max_deeplab_l' in name else 'axial_resnet')
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


def test_our_experiments_lists_every_registered_one():
  assert experiment.our_experiments() == sorted(PANOPTIC + CLASSIFICATION)


def test_every_yaml_loads_through_the_checked_loader():
  """No false unknown-key or type errors on the shipped configs."""
  for path in sorted(glob.glob(os.path.join(ROOT, 'configs', '*.yaml'))):
    name = os.path.basename(path)[:-5]
    params = experiment.load_experiment(name, [path])
    assert params.as_dict() == exp_factory.get_exp_config(name).as_dict()


def _load(**kwargs):
  return experiment.load_experiment(
      kwargs.pop('experiment', 'axial_deeplab_shapes'), **kwargs)


def test_unknown_experiment_is_named():
  with pytest.raises(experiment.ConfigError, match='axial_deeplab_nope'):
    _load(experiment='axial_deeplab_nope')
  with pytest.raises(experiment.ConfigError,
                     match='--experiment is required.*axial_deeplab_shapes'):
    _load(experiment=None)


def test_unknown_keys_are_named(tmp_path):
  with pytest.raises(experiment.ConfigError,
                     match=r'task\.model\.num_clases'):
    _load(params_override='task.model.num_clases=3')
  path = tmp_path / 'bad.yaml'
  path.write_text('task:\n  train_data:\n    crop_sise: [8, 8]\n')
  with pytest.raises(experiment.ConfigError,
                     match=r'bad\.yaml.*task\.train_data\.crop_sise'):
    _load(config_files=[str(path)])
  with pytest.raises(experiment.ConfigError, match='no such file'):
    _load(config_files=[str(tmp_path / 'x.yaml')])


@pytest.mark.parametrize('override, message', [
    ('task.model.num_classes=abc',
     "task.model.num_classes: expected int, got 'abc'"),
    ('trainer.train_steps=[1,2]',
     'trainer.train_steps: expected int, got [1, 2]'),
    ('task.model.thing_class_ids=[1.5]',
     'task.model.thing_class_ids: expected List[int], got [1.5]'),
    ('task.train_data.flip=3', 'task.train_data.flip: expected bool, got 3'),
    ('task.model.decoder=5', 'task.model.decoder: expected Decoder, got 5'),
])
def test_wrong_value_types_are_named(override, message):
  """Model Garden accepts any value; the loader names key and type."""
  with pytest.raises(experiment.ConfigError) as raised:
    _load(params_override=override)
  assert str(raised.value) == (f'--params_override: wrong value types: '
                               f'{message}.')


def test_values_of_the_right_type_pass():
  params = _load(params_override=(
      'task.losses.center_weight=.inf,task.losses.offset_weight=1,'
      'task.train_data.input_path=[a,b],trainer.train_steps=7,'
      'runtime.mixed_precision_dtype=float16'))
  assert params.task.losses.offset_weight == 1
  assert params.task.train_data.input_path == ['a', 'b']


def test_numbers_where_floats_are_expected_become_floats(tmp_path):
  """An int (or YAML's string `1e7`) where a float is expected: Model
  Garden would keep it, and a cosine schedule fed the int 30 fails inside
  TensorFlow (`Pow ... int32`); the loader converts it, from the flag and
  from a YAML file alike."""
  cosine = ('trainer.optimizer_config.learning_rate.type=cosine,'
            'trainer.optimizer_config.learning_rate.cosine.decay_steps=1000')
  path = tmp_path / 'lr.yaml'
  path.write_text('trainer:\n  loss_upper_bound: 1e7\n  optimizer_config:\n'
                  '    learning_rate: {cosine: {initial_learning_rate: 30}}\n'
                  'task: {train_data: {mean: [0, 1, 0]}}\n')
  from_flag = _load(params_override=(
      cosine + ',trainer.optimizer_config.learning_rate.cosine.'
      'initial_learning_rate=30,trainer.loss_upper_bound=1.0e7,'
      'task.train_data.mean=[0,1,0]'))
  from_file = _load(config_files=[str(path)], params_override=cosine)
  for params in (from_flag, from_file):
    lr = params.trainer.optimizer_config.learning_rate
    assert type(lr.cosine.initial_learning_rate) is float
    assert type(params.trainer.loss_upper_bound) is float
    assert params.trainer.loss_upper_bound == 1e7
    assert [type(v) for v in params.task.train_data.mean] == [float] * 3
    schedule = optimization.OptimizerFactory(
        params.trainer.optimizer_config).build_learning_rate()
    # Past the 100 warm-up steps: 30 * (1 + cos(pi * 500 / 1000)) / 2.
    assert float(schedule(500)) == pytest.approx(
        30 * (1 + math.cos(math.pi * 0.5)) / 2)


def test_unreadable_override_is_named():
  for text in ('{bad: [', 'no_such_file.yaml'):
    with pytest.raises(experiment.ConfigError,
                       match='--params_override: not YAML/JSON'):
      _load(params_override=text)


def test_unchosen_one_of_options_are_known_keys():
  """as_dict() omits a one-of's unchosen options; they are still keys."""
  params = _load(params_override=(
      'trainer.optimizer_config.learning_rate.type=constant,'
      'trainer.optimizer_config.learning_rate.constant.learning_rate=0.5'))
  assert params.trainer.optimizer_config.learning_rate.get(
  ).learning_rate == 0.5
  with pytest.raises(experiment.ConfigError, match=(
      r'trainer\.optimizer_config\.learning_rate\.constant\.lr\.')):
    _load(params_override=(
        'trainer.optimizer_config.learning_rate.constant.lr=0.5'))


def test_missing_input_files_are_named(tmp_path):
  pattern = str(tmp_path / 'nothing-*')
  params = _load(params_override=f'task.train_data.input_path={pattern}')
  with pytest.raises(experiment.ConfigError,
                     match=r'task\.train_data\.input_path.*nothing-\*'):
    preflight.check_inputs(params, 'train')


def test_missing_default_shapes_data_says_how_to_write_it(tmp_path,
                                                          monkeypatch):
  """A fresh checkout has no runs/data/synthetic_64: the message gives the
  command that writes the dataset the demo uses (400 + 100 images of 64
  px, seed 0)."""
  monkeypatch.chdir(tmp_path)
  params = _load()
  command = ('python trainer/make_synthetic_dataset.py '
             '--output_dir=runs/data/synthetic_64 --num_train=400 '
             '--num_val=100 --image_size=64 --seed=0')
  for mode, key, split in (('train', 'train_data', 'train'),
                           ('eval', 'validation_data', 'val')):
    with pytest.raises(experiment.ConfigError) as raised:
      preflight.check_inputs(params, mode)
    assert str(raised.value) == (
        f"task.{key}.input_path: pattern 'runs/data/synthetic_64/{split}-*-"
        f"of-*.tfrecord' matches no file. It is the default synthetic shapes "
        f"dataset of axial_deeplab_shapes; write it from the repository root "
        f"with: {command} (`make demo` writes it too).")


def test_summary_interval_must_fit_steps_per_loop():
  with pytest.raises(experiment.ConfigError, match='summary_interval'):
    _load(params_override='trainer.steps_per_loop=3,'
                          'trainer.summary_interval=5')
