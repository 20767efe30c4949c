"""trainer/train.py end to end (subprocesses): train, eval, resume, errors."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

from official.core import task_factory
import tensorflow as tf

from axial_deeplab_tf.train import experiment
import trainer_helpers


def _latest_step(model_dir):
  latest = tf.train.latest_checkpoint(model_dir)
  return int(latest.rsplit('-', 1)[1]) if latest else 0



def _event_tags(folder):
  tags = set()
  for path in glob.glob(os.path.join(folder, 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  return tags


def test_killed_run_resumes_evaluates_and_stops_on_nan(tmp_path, synthetic48):
  """Kill during training; the rerun continues at the checkpoint's step and
  evaluates (metrics JSON, TensorBoard scalars and image panels); a NaN
  continuation stops at the exact step, naming the last good checkpoint."""
  model_dir = str(tmp_path / 'run')
  process = subprocess.Popen(
      trainer_helpers.train_args(model_dir, synthetic48, mode='train',
                                 steps=400),
      env=trainer_helpers.env(), stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 300
    while _latest_step(model_dir) < 2 and time.time() < deadline:
      assert process.poll() is None, 'training ended early'
      time.sleep(0.2)
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  step = _latest_step(model_dir)
  assert step >= 2 and step % 2 == 0

  result = trainer_helpers.run(trainer_helpers.train_args(
      model_dir, synthetic48, mode='train_and_eval', steps=step + 2))
  assert result.returncode == 0, result.stderr[-3000:]
  out = result.stdout + result.stderr
  assert f'restored from checkpoint: {model_dir}/ckpt-{step}' in out
  assert f'step: {step:6d} | training until step {step + 2}' in out
  assert 'examples/s' in out and 'ETA' in out and 'lr ' in out
  assert _latest_step(model_dir) == step + 2
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    metrics = json.load(f)
  assert metrics['global_step'] == step + 2
  for key in ('All_pq', 'All_sq', 'All_rq', 'Things_pq', 'Stuff_pq',
              'mean_iou', 'mask_AP'):
    assert key in metrics
  assert {'training_loss', 'semantic_loss', 'learning_rate',
          'examples_per_second'} <= _event_tags(
              os.path.join(model_dir, 'train'))
  assert {'images/input', 'images/predicted_panoptic',
          'images/center_heatmap', 'All_pq'} <= _event_tags(
              os.path.join(model_dir, 'validation'))

  result = trainer_helpers.run(trainer_helpers.train_args(
      model_dir, synthetic48, mode='train', steps=step + 6,
      extra='task.losses.center_weight=.inf'))
  assert result.returncode == 1
  assert f'at step {step + 3}' in result.stderr, result.stderr[-2000:]
  assert f'ckpt-{step + 2}' in result.stderr
  assert _latest_step(model_dir) == step + 2


def test_errors_before_training(tmp_path, synthetic48):
  """Exit status 1 and a message; key and input errors: tests/configs."""
  result = trainer_helpers.run([sys.executable, trainer_helpers.TRAIN,
                                 '--experiment=axial_deeplab_nope', '--mode=train',
                                 f'--model_dir={tmp_path}'])
  assert result.returncode == 1
  assert "'axial_deeplab_nope' is not a registered" in result.stderr
  assert 'axial_deeplab_shapes' in result.stderr
  # A model_dir holding a checkpoint of another model.
  other = str(tmp_path / 'other')
  params = experiment.load_experiment(
      'axial_deeplab_shapes',
      params_override=trainer_helpers.TINY + ',task.model.num_classes=7')
  model = task_factory.get_task(params.task).build_model()
  tf.train.Checkpoint(model=model).save(os.path.join(other, 'ckpt'))
  result = trainer_helpers.run(trainer_helpers.train_args(other, synthetic48))
  assert result.returncode == 1
  assert 'different model' in result.stderr and other in result.stderr
  assert 'Traceback' not in result.stderr
