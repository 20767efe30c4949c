"""The panoptic task: inputs, steps, metrics, restore, inference."""

import glob
import json
import os
import re
import shutil

import numpy as np
import tensorflow as tf
import tf_keras

from official.core import task_factory
import pytest

from axial_deeplab_tf import tasks  # pylint: disable=unused-import
from axial_deeplab_tf.data.encoding import DatasetError
from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.tasks import inference
from axial_deeplab_tf.tasks import panoptic
from axial_deeplab_tf.tasks import train_utils
from axial_deeplab_tf.train import cli
import tasks_helpers


@pytest.fixture(scope='module')
def setup(tiny_synthetic):
  params = tasks_helpers.tiny_panoptic_params(tiny_synthetic)
  task = task_factory.get_task(params.task)
  model = task.build_model()
  return params, task, model


def test_inputs_use_the_one_encoding(setup):
  params, task, _ = setup
  assert task.encoding == PanopticEncoding(5, [2, 3, 4], 256, 255)
  assert task.post_processor.encoding == task.encoding
  batch = next(iter(task.build_inputs(params.task.validation_data)))
  classes = batch['panoptic'].numpy() // 256
  assert set(np.unique(classes)) <= {-1, 0, 1, 2, 3, 4}


@pytest.mark.parametrize('override, message', [
    ({'num_classes': 6},
     'num_classes: dataset 5, config 6; set task.model.num_classes=5'),
    ({'thing_class_ids': [2, 3]},
     'thing_class_ids: dataset [2,3,4], config [2,3]; set '
     'task.model.thing_class_ids=[2,3,4]'),
    ({'post_processing': {'label_divisor': 1000}},
     'label_divisor: dataset 256, config 1000; set '
     'task.model.post_processing.label_divisor=256'),
])
def test_dataset_encoding_mismatch_fails_before_reading(
    tiny_synthetic, override, message):
  params = tasks_helpers.tiny_panoptic_params(tiny_synthetic)
  params.override({'task': {'model': override}})
  task = task_factory.get_task(params.task)
  for data in (params.task.train_data, params.task.validation_data):
    with pytest.raises(DatasetError, match=re.escape(message)) as error:
      task.build_inputs(data)
    assert 'classes.json' in str(error.value)
  # The synthetic dataset's own metadata says the same (5 classes, 256).
  folder = os.path.dirname(tiny_synthetic['val'])
  with open(os.path.join(folder, 'classes.json')) as f:
    assert json.load(f)['encoding'] == {
        'num_classes': 5, 'thing_class_ids': [2, 3, 4],
        'label_divisor': 256, 'void_label': 255}


def test_dataset_mismatch_is_a_user_error_of_the_mains(tiny_synthetic,
                                                       capsys):
  params = tasks_helpers.tiny_panoptic_params(tiny_synthetic, num_classes=6)
  task = task_factory.get_task(params.task)
  status = cli.report_errors(
      lambda: task.build_inputs(params.task.train_data))
  assert status == 1
  error = capsys.readouterr().err
  assert error.startswith('ERROR: ') and 'Traceback' not in error
  assert 'set task.model.num_classes=5' in error


def test_dataset_without_metadata_is_not_checked(tiny_synthetic, tmp_path):
  bare = str(tmp_path)  # the validation shards without classes.json
  for path in glob.glob(tiny_synthetic['val']):
    shutil.copy(path, bare)
  params = tasks_helpers.tiny_panoptic_params(tiny_synthetic, num_classes=6)
  task = task_factory.get_task(params.task)
  data = params.task.validation_data.replace(
      input_path=os.path.join(bare, 'val-*'))
  batch = next(iter(task.build_inputs(data)))
  assert batch['image'].shape == (2, 48, 48, 3)


def test_tfds_class_count_is_checked(tiny_synthetic):
  params = tasks_helpers.tiny_panoptic_params(tiny_synthetic)
  task = task_factory.get_task(params.task)
  data = params.task.validation_data.replace(
      input_path='', tfds_name='coco/2017_panoptic', tfds_split='val')
  with pytest.raises(ValueError, match=re.escape(
      "tfds_name 'coco/2017_panoptic': the dataset has 133 classes, the "
      'config 5; set task.model.num_classes=133.')):
    task.build_inputs(data)


def test_train_and_validation_steps(setup):
  params, task, model = setup
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  metrics = task.build_metrics(training=True)
  batch = next(iter(task.build_inputs(params.task.train_data)))
  before = [v.numpy().copy() for v in model.trainable_variables]
  # Eager (tracing costs more than two tiny steps); the trainer's
  # tf.function path runs in tests/trainer. Learning rate is 0 at step 0
  # (linear warm-up from 0), so take two steps.
  task.train_step(batch, model, optimizer, metrics)
  logs = task.train_step(batch, model, optimizer, metrics)
  assert np.isfinite(logs['loss'].numpy())
  names = {m.name: m.result().numpy() for m in metrics}
  assert set(names) == {'semantic_loss', 'center_loss', 'offset_loss',
                        'nonfinite_loss_step'}
  assert names['nonfinite_loss_step'] == -1
  changed = sum(not np.array_equal(a, v.numpy())
                for a, v in zip(before, model.trainable_variables))
  assert changed > len(before) // 3
  state = None
  for batch in task.build_inputs(params.task.validation_data):
    out = task.validation_step(batch, model)
    state = task.aggregate_logs(state, out)
  result = task.reduce_aggregated_logs(state)
  for key in ('All_pq', 'All_sq', 'All_rq', 'Things_pq', 'Stuff_pq',
              'mean_iou', 'mask_AP'):
    assert key in result and np.isfinite(result[key])


def test_loss_scale_optimizer_path(setup):
  params, task, model = setup
  params = params.replace(runtime={'mixed_precision_dtype': 'float16'})
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  assert isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
  batch = next(iter(task.build_inputs(params.task.train_data)))
  logs = task.train_step(batch, model, optimizer)
  assert np.isfinite(logs['loss'].numpy())


def test_nonfinite_step_metric():
  metric = train_utils.NonFiniteStep()
  metric.update_state(tf.constant(1.0), tf.constant(5, tf.int64))
  assert metric.result().numpy() == -1
  metric.update_state(tf.constant(np.nan), tf.constant(7, tf.int64))
  metric.update_state(tf.constant(np.inf), tf.constant(8, tf.int64))
  assert metric.result().numpy() == 7
  metric.reset_state()
  assert metric.result().numpy() == -1


def test_partial_restore_and_model_dir_check(setup, tmp_path, tiny_synthetic):
  _, _, model = setup
  path = tf.train.Checkpoint(model=model).write(str(tmp_path / 'ckpt'))
  other_params = tasks_helpers.tiny_panoptic_params(tiny_synthetic,
                                                    num_classes=6)
  other = task_factory.get_task(other_params.task).build_model()
  result = checkpoint_restore.restore_modules(
      other, path, checkpoint_restore.PANOPTIC_MODULES)
  assert 'backbone' in result['restored']
  assert 'center_head' in result['restored']
  assert [r.split(' ')[0] for r in result['not_restored']] == ['semantic_head']
  for a, b in zip(model.backbone.variables, other.backbone.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  fresh = task_factory.get_task(other_params.task).build_model()
  kernel = fresh.offset_head.variables[0].numpy().copy()
  result = checkpoint_restore.restore_modules(fresh, path, ('backbone',))
  assert result['restored'] == ['backbone']
  np.testing.assert_array_equal(kernel, fresh.offset_head.variables[0])
  # model_dir checks: same model passes, another class count fails.
  tf.train.Checkpoint(model=model).save(str(tmp_path / 'run' / 'ckpt'))
  checkpoint_restore.check_model_dir(model, str(tmp_path / 'run'))
  with pytest.raises(ValueError, match='different model'):
    checkpoint_restore.check_model_dir(other, str(tmp_path / 'run'))


def test_multi_scale_inference(setup):
  _, _, model = setup
  images = tf.random.stateless_normal([1, 40, 48, 3], [1, 2])
  single = inference.multi_scale_inference(model, images)
  plain = model(images, training=False)
  np.testing.assert_allclose(single['semantic_logits'],
                             plain['semantic_logits'], atol=1e-6)
  multi = inference.multi_scale_inference(model, images, (0.75, 1.0, 1.5),
                                          flip=True)
  assert multi['semantic_logits'].shape == (1, 40, 48, 5)
  assert multi['center_offsets'].shape == (1, 40, 48, 2)
  probs = tf.nn.softmax(multi['semantic_logits']).numpy()
  np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
  # Flip only, on a mirror-symmetric image: heatmap symmetric too.
  symmetric = tf.concat([images[:, :, :24], tf.reverse(images[:, :, :24],
                                                       [2])], axis=2)
  flipped = inference.multi_scale_inference(model, symmetric, (1.0,), True)
  heat = flipped['center_heatmap'].numpy()
  np.testing.assert_allclose(heat, heat[:, :, ::-1], atol=1e-5)


def test_validation_data_config_of_panoptic_module():
  assert panoptic.OUTPUT_KEYS[0] == 'panoptic'
