"""The train actions in process: progress line and ETA, divergence stop.

Orbit calls each train action with the loop's output dict; these tests do
the same with hand-made outputs and a real global step variable.
"""

import math
import os

import pytest
import tensorflow as tf

from axial_deeplab_tf.train import actions
from axial_deeplab_tf.train import experiment

LR_KEY = ('trainer.optimizer_config.learning_rate.polynomial.'
          'initial_learning_rate (now 0.005)')


class _Clock:
  """Seconds the test sets by hand."""

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_first_eta_excludes_start_up_and_tracing(capsys):
  """The first loop (start-up, tracing; a resumed run's step restored after
  the logger was made) gives no rate nor ETA; later ETAs use the mean time
  per step since the first loop ended."""
  step, clock = tf.Variable(0, dtype=tf.int64), _Clock()
  logger = actions.ProgressLogger(step, global_batch_size=4, train_steps=1010,
                                  clock=clock)
  step.assign(1002)  # restored from ckpt-1000, then one loop of 2 steps
  clock.now = 300.0  # of which tracing took most
  first = {'training_loss': 2.5, 'learning_rate': 0.1}
  logger(first)
  assert capsys.readouterr().out == (
      'step 1002/1010 | loss 2.5000 | lr 0.1 | ETA after the next loop '
      '(this one included start-up and tracing)\n')
  assert 'examples_per_second' not in first
  for now, eta, rate in ((304.0, '0h00m12s', 8 / 4),
                         (310.0, '0h00m10s', 8 / 6)):
    step.assign_add(2)
    clock.now = now
    output = {'training_loss': 2.0}
    logger(output)
    # 2 steps of 4 examples in 4 s, then 6 s; the remaining 6, then 4
    # steps at the mean 4 s / 2 steps, then 10 s / 4 steps.
    assert output['examples_per_second'] == pytest.approx(rate)
    assert capsys.readouterr().out == (
        f'step {int(step.numpy())}/1010 | loss 2.0000 | '
        f'{rate:.1f} examples/s | ETA {eta}\n')


def _stop(tmp_path, override='', step=50):
  params = experiment.load_experiment('axial_deeplab_shapes',
                                      params_override=override)
  global_step = tf.Variable(step, dtype=tf.int64)
  return actions.DivergenceStop(params, str(tmp_path), global_step)


def test_finite_loss_passes_and_the_step_metric_is_not_logged(tmp_path):
  output = {'training_loss': 3.0, 'nonfinite_loss_step': -1.0}
  assert _stop(tmp_path)(output) is None
  assert output == {'training_loss': 3.0}


def test_loss_above_the_bound_without_a_checkpoint(tmp_path):
  """Model Garden's bound (1e6) ends in one paragraph, not its raw
  RuntimeError; with no checkpoint written there is nothing to resume."""
  with pytest.raises(actions.TrainingStopped) as raised:
    _stop(tmp_path)({'training_loss': 2.5e6, 'nonfinite_loss_step': -1.0})
  assert str(raised.value) == (
      'Training stopped: the loss diverged: the mean training loss of the '
      'train loop ending at step 50 was 2.5e+06, above '
      'trainer.loss_upper_bound (1e+06). No checkpoint was written before it '
      '(the first comes at step 200, trainer.checkpoint_interval), so there '
      f'is nothing to resume: lower the learning rate ({LR_KEY}) or check '
      'the data, or raise trainer.loss_upper_bound if a loss this large is '
      'expected, then start the run over.')


def test_nan_names_the_exact_step_and_the_last_good_checkpoint(tmp_path):
  saved = tf.train.Checkpoint(v=tf.Variable(1.0)).save(
      os.path.join(str(tmp_path), 'ckpt'))
  with pytest.raises(actions.TrainingStopped) as raised:
    _stop(tmp_path)({'training_loss': math.nan, 'nonfinite_loss_step': 43.0})
  assert str(raised.value) == (
      f'Training stopped: the loss became NaN or infinite at step 43. Last '
      f'good checkpoint: {saved}. Lower the learning rate ({LR_KEY}) or check '
      f'the data, then rerun the same command to resume from that '
      f'checkpoint.')


def test_recovery_trials_are_left_to_model_garden(tmp_path):
  """recovery_max_trials=1: Model Garden restores once, the next
  divergence stops; -1: no bound is checked, a NaN still stops."""
  stop = _stop(tmp_path, 'trainer.recovery_max_trials=1')
  assert stop({'training_loss': 2e6}) is None
  with pytest.raises(actions.TrainingStopped,
                     match=r'step 50 was 3e\+06, .*after 1 recoveries'):
    stop({'training_loss': 3e6})
  stop = _stop(tmp_path, 'trainer.recovery_max_trials=-1')
  assert stop({'training_loss': 2e6, 'nonfinite_loss_step': -1.0}) is None
  with pytest.raises(actions.TrainingStopped,
                     match='in the train loop ending at step 50'):
    stop({'training_loss': math.inf, 'nonfinite_loss_step': -1.0})
