"""The classification task on TFDS mock data: steps, top-k, restore; the
init_checkpoint_modules check both tasks share."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from official.core import exp_factory
from official.core import task_factory

from axial_deeplab_tf import tasks  # pylint: disable=unused-import
from axial_deeplab_tf.tasks import checkpoint_restore
import tasks_helpers  # pylint: disable=unused-import  (registers experiments)


def _params():
  params = exp_factory.get_exp_config('axial_resnet_26s_imagenet')
  data = {'tfds_name': 'imagenette', 'image_size': 32,
          'global_batch_size': 4, 'seed': 0}
  params.override({'task': {
      'model': {'num_classes': 10, 'backbone': {'axial_resnet': {
          'width_multiplier': 0.125, 'stage_blocks': [1, 1, 1, 1],
          'stem_width': 8}}},
      'train_data': dict(data, tfds_split='train'),
      'validation_data': dict(data, tfds_split='validation')}},
                  is_strict=True)
  return params


def test_classification_task_on_tfds_mock(tmp_path):
  params = _params()
  task = task_factory.get_task(params.task)
  model = task.build_model()
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  metrics = task.build_metrics(training=True)
  with tfds.testing.mock_data(num_examples=8):
    train = iter(task.build_inputs(params.task.train_data))
    batch = next(train)
    assert batch['image'].shape == (4, 32, 32, 3)
    task.train_step(batch, model, optimizer, metrics)
    logs = task.train_step(next(train), model, optimizer, metrics)
    assert np.isfinite(logs['loss'].numpy())
    assert {m.name for m in metrics} == {
        'top_1_accuracy', 'top_5_accuracy', 'nonfinite_loss_step'}
    state = None
    for batch in task.build_inputs(params.task.validation_data):
      state = task.aggregate_logs(state, task.validation_step(batch, model))
  result = task.reduce_aggregated_logs(state)
  assert set(result) == {'top_1_accuracy', 'top_5_accuracy'}
  assert 0.0 <= result['top_1_accuracy'] <= result['top_5_accuracy'] <= 1.0
  # Label smoothing: the loss of a perfect one-hot logit is not zero.
  logits = tf.one_hot([1, 2], 10) * 100.0
  assert float(task.build_losses(tf.constant([1, 2]), logits)) > 0.1
  # A 1000-class checkpoint restores the backbone, not the head.
  path = tf.train.Checkpoint(model=model).write(str(tmp_path / 'c'))
  params.override({'task': {'model': {'num_classes': 7}}})
  other = task_factory.get_task(params.task).build_model()
  result = checkpoint_restore.restore_modules(
      other, path, checkpoint_restore.CLASSIFICATION_MODULES)
  assert result['restored'] == ['backbone']
  assert result['not_restored'][0].startswith('head')


def test_panoptic_task_starts_from_a_classification_backbone(tmp_path):
  """`init_checkpoint_modules: backbone` reads `model/backbone/...` of a
  classification checkpoint into the panoptic model."""
  panoptic_params = tasks_helpers.tiny_panoptic_params(
      {'train': 'unused-train-*', 'val': 'unused-val-*'})
  params = exp_factory.get_exp_config('axial_resnet_26s_imagenet')
  params.override({'task': {'model': {'num_classes': 10, 'backbone': {
      'axial_resnet': dict(tasks_helpers.TINY_BACKBONE['axial_resnet'],
                           variant='axial_deeplab_s')}}}}, is_strict=True)
  classifier = task_factory.get_task(params.task).build_model()
  # Non-trivial weights, so that equality after the restore means something.
  for i, variable in enumerate(classifier.backbone.variables):
    variable.assign(tf.random.stateless_normal(variable.shape, [i, 7]))
  path = tf.train.Checkpoint(model=classifier).write(str(tmp_path / 'c'))
  assert any(key.startswith('model/backbone/')
             for key, _ in tf.train.list_variables(path))
  panoptic_params.override({'task': {
      'init_checkpoint': path, 'init_checkpoint_modules': 'backbone'}})
  task = task_factory.get_task(panoptic_params.task)
  model = task.build_model()
  head = model.semantic_head.variables[0].numpy().copy()
  task.initialize(model)
  assert len(model.backbone.variables) == len(classifier.backbone.variables)
  for a, b in zip(classifier.backbone.variables, model.backbone.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  np.testing.assert_array_equal(head, model.semantic_head.variables[0])


@pytest.mark.parametrize('experiment', ['axial_resnet_26s_imagenet',
                                        'axial_deeplab_shapes'])
def test_init_checkpoint_modules_is_checked_by_both_tasks(experiment):
  """An unknown value is an error naming the key, before any restore."""
  params = exp_factory.get_exp_config(experiment)
  params.override({'task': {'init_checkpoint_modules': 'heads'}})
  task = task_factory.get_task(params.task)
  with pytest.raises(ValueError, match=r"task\.init_checkpoint_modules: "
                     r"expected one of \['all', 'backbone'\], got 'heads'"):
    task.initialize(None)
