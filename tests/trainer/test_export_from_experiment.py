"""Export modules from a (test-registered) Model Garden experiment."""

import dataclasses
from typing import List, Optional

import numpy as np
import pytest
import tensorflow as tf

from official.core import base_task
from official.core import config_definitions as cfg
from official.core import exp_factory
from official.core import task_factory

from axial_deeplab_tf.configs.panoptic import PanopticModel
from axial_deeplab_tf.configs.panoptic import PostProcessing
from axial_deeplab_tf.serving import panoptic_module
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.train import experiment
from axial_deeplab_tf.train import export as experiment_export

import serving_models as sm
import trainer_helpers

EXPERIMENT = 'test_serving_tiny_panoptic'


@dataclasses.dataclass
class TinyData(cfg.DataConfig):
  mean: Optional[List[float]] = None
  std: Optional[List[float]] = None


@dataclasses.dataclass
class TinyTaskConfig(cfg.TaskConfig):
  model: PanopticModel = dataclasses.field(default_factory=PanopticModel)
  validation_data: TinyData = dataclasses.field(default_factory=TinyData)


class TinyTask(base_task.Task):

  def build_model(self):
    # Export restores every weight from the checkpoint: no randomizing.
    return sm.tiny_panoptic_network(seed=4)

  def build_inputs(self, params, input_context=None):
    raise NotImplementedError('export tests build no inputs')


def _experiment():
  return cfg.ExperimentConfig(task=TinyTaskConfig(
      model=PanopticModel(
          num_classes=sm.NUM_CLASSES,
          thing_class_ids=list(sm.THING_CLASS_IDS),
          post_processing=PostProcessing(nms_kernel=5, top_k=8,
                                         stuff_area_limit=16,
                                         label_divisor=1000)),
      validation_data=TinyData(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])))


try:
  exp_factory.register_config_factory(EXPERIMENT)(_experiment)
  task_factory.register_task_cls(TinyTaskConfig)(TinyTask)
except KeyError:  # registered by an earlier import of this module
  pass


def test_unknown_experiment_is_named():
  with pytest.raises(experiment.ConfigError,
                     match='--experiment.*no_such_experiment'):
    experiment.load_experiment('no_such_experiment')


def test_module_from_experiment_and_checkpoint(tmp_path):
  params = experiment.load_experiment(
      EXPERIMENT, params_override='task.model.post_processing.top_k=6')
  # Differs from the freshly built model the task restores it into.
  trained = sm.randomize(sm.tiny_panoptic_network(seed=4), seed=9)
  prefix = tf.train.Checkpoint(model=trained).save(str(tmp_path / 'ckpt'))
  module = experiment_export.build_export_module(params, str(tmp_path))
  assert isinstance(module, panoptic_module.PanopticExportModule)
  options = module.export_metadata()['post_processing']
  assert options['top_k'] == 6 and options['nms_kernel'] == 5
  assert options['label_divisor'] == 1000
  assert module.mean == (0.5, 0.5, 0.5) and module.std == (0.25,) * 3
  for restored, original in zip(trainer_helpers.unfolded_weights(module.model), trained.weights):
    np.testing.assert_array_equal(restored.numpy(), original.numpy())
  assert prefix.startswith(str(tmp_path))


def test_missing_checkpoint_is_named(tmp_path):
  params = experiment.load_experiment(EXPERIMENT)
  with pytest.raises(checkpoint_restore.CheckpointError,
                     match='--checkpoint_path.*holds no checkpoint'):
    experiment_export.build_export_module(params, str(tmp_path))
  with pytest.raises(checkpoint_restore.CheckpointError,
                     match='--checkpoint_path: no checkpoint at'):
    experiment_export.build_export_module(params, str(tmp_path / 'ckpt-3'))


def test_checkpoint_of_another_model_is_named(tmp_path):
  params = experiment.load_experiment(EXPERIMENT)
  other = tf.train.Checkpoint(model=tf.train.Checkpoint(
      w=tf.Variable([1.0, 2.0])))
  prefix = other.save(str(tmp_path / 'ckpt'))
  with pytest.raises(checkpoint_restore.CheckpointError,
                     match=f'--checkpoint_path: checkpoint .*{prefix}.* '
                           f'does not fit this model'):
    experiment_export.build_export_module(params, prefix)
