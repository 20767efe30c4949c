"""trainer/train.py on TFDS mock data (subprocess, tfds.testing.mock_data)."""

import json
import os
import subprocess
import sys

import pytest

import trainer_helpers

WRAPPER = '''
import runpy, sys
import tensorflow_datasets as tfds
sys.argv = sys.argv[1:]
with tfds.testing.mock_data(num_examples=8):
  runpy.run_path(sys.argv[0], run_name='__main__')
'''


@pytest.mark.slow
def test_classification_train_and_eval_on_tfds_mock(tmp_path):
  model_dir = str(tmp_path / 'run')
  override = ','.join([
      'task.model.num_classes=10',
      # Conv blocks: the TFDS input is under test, not the attention
      # (its tracing would triple the run's CPU time).
      'task.model.backbone.axial_resnet.variant=resnet50',
      'task.model.backbone.axial_resnet.width_multiplier=0.125',
      'task.model.backbone.axial_resnet.stage_blocks=[1,1,1,1]',
      'task.model.backbone.axial_resnet.stem_width=8',
      'task.train_data.tfds_name=imagenette',
      'task.validation_data.tfds_name=imagenette',
      'task.train_data.image_size=32', 'task.validation_data.image_size=32',
      'task.train_data.global_batch_size=4',
      'task.validation_data.global_batch_size=4',
      'runtime.distribution_strategy=one_device',
      'trainer.train_steps=2', 'trainer.steps_per_loop=2',
      'trainer.summary_interval=2', 'trainer.checkpoint_interval=2',
      'trainer.validation_interval=2', 'trainer.validation_steps=-1'])
  result = subprocess.run(
      [sys.executable, '-c', WRAPPER, trainer_helpers.TRAIN,
       '--experiment=axial_resnet_26s_imagenet', '--mode=train_and_eval',
       f'--model_dir={model_dir}', f'--params_override={override}'],
      env=trainer_helpers.env(), capture_output=True, text=True, timeout=400,
      check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    metrics = json.load(f)
  assert metrics['global_step'] == 2
  assert 0.0 <= metrics['top_1_accuracy'] <= metrics['top_5_accuracy'] <= 1.0
