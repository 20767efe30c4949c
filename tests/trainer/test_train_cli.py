"""trainer/train.py end to end (subprocesses): train, eval, resume, errors."""

import glob
import json
import os
import signal
import subprocess
import time

import pytest
from official.core import task_factory
import tensorflow as tf

from axial_deeplab_tf.train import cli
from axial_deeplab_tf.train import experiment
from axial_deeplab_tf.train import runner
import trainer_helpers


# The checks below are the trainer's, not the model's: a conv backbone
# (trainer_helpers.CONV) makes each of the four runs ~3x cheaper.
CONV = trainer_helpers.CONV


def _latest_step(model_dir):
  latest = tf.train.latest_checkpoint(model_dir)
  return int(latest.rsplit('-', 1)[1]) if latest else 0



def _event_tags(folder):
  tags = set()
  for path in glob.glob(os.path.join(folder, 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  return tags


@pytest.mark.slow
def test_killed_run_resumes_evaluates_and_stops_on_nan(tmp_path, synthetic48):
  """Kill during training; the rerun continues at the checkpoint's step,
  logs progress (no ETA from the first loop, no nonfinite_loss_step) and
  evaluates (metrics JSON, TensorBoard scalars and image panels);
  --mode=eval --checkpoint_path of its checkpoint agrees; a NaN
  continuation stops at the exact step with one paragraph naming the last
  good checkpoint and the learning rate to lower."""
  model_dir = str(tmp_path / 'run')
  process = subprocess.Popen(
      trainer_helpers.train_args(model_dir, synthetic48, mode='train',
                                 steps=400, extra=CONV),
      env=trainer_helpers.env(), stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 600  # tracing alone took 4 min at load 10
    while _latest_step(model_dir) < 2 and time.time() < deadline:
      assert process.poll() is None, 'training ended early'
      time.sleep(0.2)
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  step = _latest_step(model_dir)
  assert step >= 2 and step % 2 == 0

  # Two loops: the first (tracing) has no ETA, the second has one.
  result = trainer_helpers.run(trainer_helpers.train_args(
      model_dir, synthetic48, mode='train_and_eval', steps=step + 4,
      extra=CONV))
  assert result.returncode == 0, result.stderr[-3000:]
  out = result.stdout + result.stderr
  assert f'restored from checkpoint: {model_dir}/ckpt-{step}' in out
  assert f'step: {step:6d} | training until step {step + 4}' in out
  progress = [l for l in result.stdout.splitlines() if l.startswith('step ')]
  assert len(progress) == 2, progress
  assert progress[0].startswith(f'step {step + 2}/{step + 4} | loss ')
  assert progress[0].endswith('| ETA after the next loop (this one included '
                              'start-up and tracing)')
  assert 'examples/s | ETA 0h00m00s' in progress[1] and 'lr ' in progress[1]
  assert 'nonfinite_loss_step' not in out
  assert _latest_step(model_dir) == step + 4
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    metrics = json.load(f)
  assert metrics['global_step'] == step + 4
  for key in ('All_pq', 'All_sq', 'All_rq', 'Things_pq', 'Stuff_pq',
              'mean_iou', 'mask_AP'):
    assert key in metrics
  train_tags = _event_tags(os.path.join(model_dir, 'train'))
  assert {'training_loss', 'semantic_loss', 'learning_rate',
          'examples_per_second'} <= train_tags
  assert 'nonfinite_loss_step' not in train_tags
  assert {'images/input', 'images/predicted_panoptic',
          'images/center_heatmap', 'All_pq'} <= _event_tags(
              os.path.join(model_dir, 'validation'))

  # --checkpoint_path: --mode=eval of that checkpoint into another
  # model_dir gives the metrics Model Garden's own restore of model_dir
  # gave at the end of train_and_eval, at its step; no checkpoint is
  # written there. (No image panels: not checked here, and their
  # inference would be traced again.)
  eval_dir = str(tmp_path / 'eval')
  result = trainer_helpers.run(trainer_helpers.train_args(
      eval_dir, synthetic48, mode='eval',
      extra=CONV + ',task.image_summary_max_outputs=0') + [
          f'--checkpoint_path={model_dir}/ckpt-{step + 4}'])
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(eval_dir, 'metrics.json')) as f:
    evaluated = json.load(f)
  assert evaluated['global_step'] == step + 4
  for key in ('All_pq', 'mean_iou', 'mask_AP'):
    assert abs(evaluated[key] - metrics[key]) < 1e-6, key
  assert not tf.train.latest_checkpoint(eval_dir)
  assert not glob.glob(os.path.join(eval_dir, 'ckpt-*'))

  # Model Garden's own check (RuntimeError) would see this NaN too; ours
  # comes first: one paragraph, no traceback.
  result = trainer_helpers.run(trainer_helpers.train_args(
      model_dir, synthetic48, mode='train', steps=step + 8,
      extra=CONV + ',task.losses.center_weight=.inf'))
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  errors = [l for l in result.stderr.splitlines() if l.startswith('ERROR')]
  assert errors == [
      f'ERROR: Training stopped: the loss became NaN or infinite at step '
      f'{step + 5}. Last good checkpoint: {model_dir}/ckpt-{step + 4}. Lower '
      f'the learning rate (trainer.optimizer_config.learning_rate.polynomial.'
      f'initial_learning_rate (now 0.005)) or check the data, then rerun the '
      f'same command to resume from that checkpoint.'], result.stderr[-3000:]
  assert _latest_step(model_dir) == step + 4


def test_checkpoint_of_another_model_is_reported(tmp_path, synthetic48,
                                                 capsys):
  """A model_dir holding a checkpoint of another model: one message naming
  it, status 1, before training (in process: that the mains turn this
  status and message into their exit, test_cli_errors checks)."""
  other = str(tmp_path / 'other')
  params = experiment.load_experiment(
      'axial_deeplab_shapes',
      params_override=trainer_helpers.TINY + ',task.model.num_classes=7')
  model = task_factory.get_task(params.task).build_model()
  tf.train.Checkpoint(model=model).save(os.path.join(other, 'ckpt'))
  params = experiment.load_experiment(
      'axial_deeplab_shapes',
      params_override=trainer_helpers.train_override(synthetic48))
  assert cli.report_errors(
      lambda: runner.run(params, 'train_and_eval', other)) == 1
  err = capsys.readouterr().err
  assert err.startswith('ERROR: ') and err.count('\n') == 1, err
  assert 'different model' in err and other in err
