"""Orbit actions of the trainer: progress log, divergence stop, images, JSON.

Orbit calls train actions with the output of each train loop (every
`trainer.steps_per_loop` steps), before the checkpoint of that loop is
written, and eval actions with the metrics of each evaluation
(`runner.run` attaches them).

- `ProgressLogger`: one line per loop (loss terms, learning rate,
  examples/s, ETA from the second loop on).
- `DivergenceStop`: raises `TrainingStopped` after a NaN or infinite
  loss or a loss above `trainer.loss_upper_bound`, naming the step, the
  last good checkpoint (or that there is none) and the settings to
  change; removes `nonfinite_loss_step` from the logged output.
- `MetricsWriter`: `<model_dir>/metrics.json` and `metrics_<step>.json`.
- `PanopticImageSummary`: TensorBoard image panels of a fixed validation
  batch (input, predicted and ground-truth panoptic maps, center heatmap).
"""

import json
import math
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from axial_deeplab_tf import visualization


class TrainingStopped(RuntimeError):
  """Raised by an action to end training with a message for the user."""


def _value(x):
  return float(np.asarray(x.numpy() if hasattr(x, 'numpy') else x))


def _duration(seconds):
  seconds = int(max(seconds, 0))
  return f'{seconds // 3600}h{seconds // 60 % 60:02d}m{seconds % 60:02d}s'


class ProgressLogger:
  """Logs loss terms, learning rate, examples/s and an ETA every loop.

  The first loop after start (or resume) includes building the input
  pipeline and tracing the train step, and its starting step is not known
  (a resumed run restores the step after this action is made), so its
  line has no rate and says "ETA after the next loop". From the second
  loop on it adds 'examples_per_second' (of that loop) to the train output,
  so it is written to TensorBoard with the other scalars, and the ETA is
  the remaining steps at the mean time per step since the first loop ended
  (evaluations and checkpoints in between included).
  """

  def __init__(self, global_step, global_batch_size, train_steps,
               clock=time.monotonic):
    self._step = global_step
    self._batch = int(global_batch_size)
    self._total = int(train_steps)
    self._clock = clock
    self._first = None  # (step, time) at the end of the first loop
    self._last = None  # (step, time) at the end of the previous loop

  def __call__(self, output):
    step, now = int(self._step.numpy()), self._clock()
    parts = [f'step {step}/{self._total}']
    if 'training_loss' in output:
      parts.append(f'loss {_value(output["training_loss"]):.4f}')
    terms = [f'{k.replace("_loss", "")} {_value(v):.4g}'
             for k, v in sorted(output.items())
             if k.endswith('_loss') and k != 'training_loss']
    if terms:
      parts.append('(' + ', '.join(terms) + ')')
    if 'learning_rate' in output:
      parts.append(f'lr {_value(output["learning_rate"]):.3g}')
    if self._first is None:
      self._first = (step, now)
      parts.append('ETA after the next loop (this one included start-up '
                   'and tracing)')
    else:
      steps, elapsed = step - self._last[0], max(now - self._last[1], 1e-9)
      rate = steps * self._batch / elapsed
      per_step = (now - self._first[1]) / max(step - self._first[0], 1)
      output['examples_per_second'] = rate
      parts.append(f'{rate:.1f} examples/s')
      parts.append(f'ETA {_duration((self._total - step) * per_step)}')
    self._last = (step, now)
    message = ' | '.join(parts)
    logging.info(message)
    print(message, flush=True)


def learning_rate_key(params) -> str:
  """'<dotted key> (now <value>)' of the experiment's learning rate."""
  prefix = 'trainer.optimizer_config.learning_rate'
  lr = params.trainer.optimizer_config.learning_rate
  chosen = lr.get() if lr.type else None
  for field in ('initial_learning_rate', 'learning_rate', 'values'):
    if chosen is not None and hasattr(chosen, field):
      return f'{prefix}.{lr.type}.{field} (now {getattr(chosen, field)})'
  return prefix


class DivergenceStop:
  """Stops training when the loss diverged, with one paragraph that says
  where, the last good checkpoint and what to change.

  Divergence: a NaN or infinite loss in any step of the loop (the task's
  `nonfinite_loss_step` metric holds the first such step), or a loop's
  mean `training_loss` above `trainer.loss_upper_bound` (from step
  `trainer.recovery_begin_steps` on), the condition of Model Garden's
  recovery action. Orbit calls this action with each loop's output
  before the loop's checkpoint is written, and before Model Garden's
  own train actions (`train_lib` appends them to ours), so the latest
  checkpoint in model_dir is the last good one and Model Garden's
  `RuntimeError` never comes first. With `trainer.recovery_max_trials`
  N > 0, the first N divergences Model Garden can recover from (NaN, or
  above the bound) are left to its recovery (restore the latest
  checkpoint and go on); the next one stops. With N < 0 Model Garden
  checks no bound, and only a NaN or infinite loss stops.

  The action consumes `nonfinite_loss_step`: it is removed from the
  output, so it is neither logged nor written to TensorBoard.
  """

  def __init__(self, params, model_dir, global_step):
    t = params.trainer
    self._bound = float(t.loss_upper_bound)
    self._begin = int(t.recovery_begin_steps)
    self._max_trials = int(t.recovery_max_trials)
    self._checkpoint_interval = int(t.checkpoint_interval)
    self._learning_rate = learning_rate_key(params)
    self._model_dir = model_dir
    self._step = global_step
    self._trials = 0

  def __call__(self, output):
    first = _value(output.pop('nonfinite_loss_step', -1.0))
    loss = _value(output.get('training_loss', 0.0))
    step = int(self._step.numpy())
    above = step >= self._begin and loss > self._bound
    if first < 0 and math.isfinite(loss) and not (
        above and self._max_trials >= 0):
      return
    if self._max_trials > 0 and (math.isnan(loss) or above):
      self._trials += 1
      if self._trials <= self._max_trials:
        logging.warning(
            'loss %s at step %d: Model Garden restores the latest '
            'checkpoint (recovery %d of trainer.recovery_max_trials=%d).',
            loss, step, self._trials, self._max_trials)
        return
    raise TrainingStopped(self._message(first, loss, step))

  def _message(self, first, loss, step):
    if first >= 0 or not math.isfinite(loss):
      what = ('the loss became NaN or infinite '
              + (f'at step {int(first)}' if first >= 0
                 else f'in the train loop ending at step {step}'))
      bound = ''
    else:
      what = (f'the loss diverged: the mean training loss of the train '
              f'loop ending at step {step} was {loss:.4g}, above '
              f'trainer.loss_upper_bound ({self._bound:g})')
      bound = (', or raise trainer.loss_upper_bound if a loss this large '
               'is expected')
    if self._trials:
      what += (f', after {self._trials - 1} recoveries '
               f'(trainer.recovery_max_trials)')
    last_good = tf.train.latest_checkpoint(self._model_dir)
    if last_good:
      todo = (f'Last good checkpoint: {last_good}. Lower the learning rate '
              f'({self._learning_rate}) or check the data{bound}, then '
              f'rerun the same command to resume from that checkpoint.')
    else:
      todo = (f'No checkpoint was written before it (the first comes at '
              f'step {self._checkpoint_interval}, '
              f'trainer.checkpoint_interval), so there is nothing to '
              f'resume: lower the learning rate ({self._learning_rate}) or '
              f'check the data{bound}, then start the run over.')
    return f'Training stopped: {what}. {todo}'


class MetricsWriter:
  """Writes each evaluation's metrics to `<model_dir>/metrics.json` (the
  latest) and `<model_dir>/metrics_<step>.json`."""

  def __init__(self, model_dir, global_step):
    self._dir = model_dir
    self._step = global_step

  def __call__(self, output):
    step = int(self._step.numpy())
    metrics = {k: _value(v) for k, v in output.items()
               if np.ndim(np.asarray(v)) == 0}
    metrics['global_step'] = step
    if not tf.io.gfile.isdir(self._dir):
      tf.io.gfile.makedirs(self._dir)
    for name in ('metrics.json', f'metrics_{step}.json'):
      with tf.io.gfile.GFile(os.path.join(self._dir, name), 'w') as f:
        json.dump(metrics, f, indent=1, sort_keys=True)


class PanopticImageSummary:
  """TensorBoard image panels of a fixed validation batch.

  Panels 'images/input', 'images/predicted_panoptic',
  'images/groundtruth_panoptic' (`visualization.colorize_panoptic` with the
  generic palette) and 'images/center_heatmap', of the first
  `task.image_summary_max_outputs` validation images, written to
  `<model_dir>/<subdir>` after each evaluation when `write` is true.

  Every worker of a run attaches this action (`runner.run`); the chief
  alone passes `write=True`. The model call goes through the strategy:
  `strategy.run` in a `tf.function`, each replica of each worker given the
  same (not distributed) batch, so variables are read in replica context
  as in any train or eval step. The other path, calling the model eagerly
  in cross-replica context, reads each synchronized batch-norm statistic
  (a sync-on-read variable) with a cross-replica reduction: under
  `MultiWorkerMirroredStrategy` that is a collective the other workers
  never join (the run hangs or crashes with a shape mismatch in the
  collective), and under `TPUStrategy` eager model calls outside
  `strategy.run` are not supported. Running on every worker keeps all
  workers on the same program, so a collective any layer might add is
  joined by all. Each replica computes the same few images (a duplicate
  cost of `image_summary_max_outputs` forward passes per replica per
  evaluation); the first local replica's outputs are post-processed and
  written on the chief only.
  """

  def __init__(self, task, model, params, model_dir, global_step,
               subdir='validation', write=True):
    self._task, self._model, self._params = task, model, params
    self._max = int(params.task.image_summary_max_outputs)
    self._encoding = params.task.model.encoding()
    self._palette = visualization.get_palette('generic',
                                              self._encoding.num_classes)
    self._dir = os.path.join(model_dir, subdir)
    self._write = write
    self._step = global_step
    self._writer = None
    self._last = -1
    self._batch = None
    self._infer = None

  def _get_batch(self):
    """The first `image_summary_max_outputs` validation examples."""
    if self._batch is None:
      config = self._params.task.validation_data.replace(
          global_batch_size=self._max, is_training=False)
      self._batch = next(iter(self._task.build_inputs(config)))
    return self._batch

  def _inference(self, images):
    """The task's inference on every replica; the first local replica's
    outputs."""
    if self._infer is None:
      strategy = tf.distribute.get_strategy()

      @tf.function
      def infer(x):
        return strategy.run(
            lambda y: self._task.inference_step(y, self._model), args=(x,))
      self._infer = (strategy, infer)
    strategy, infer = self._infer
    return tf.nest.map_structure(
        lambda v: strategy.experimental_local_results(v)[0], infer(images))

  def _colors(self, panoptic):
    return visualization.colorize_panoptic(panoptic.numpy(), self._encoding,
                                           self._palette)

  def __call__(self, output):
    del output
    step = int(self._step.numpy())
    if self._max <= 0 or step == self._last:
      return
    self._last = step
    try:
      batch = self._get_batch()
    except (ValueError, tf.errors.OpError) as e:
      logging.warning('image summary skipped: %s', e)
      return
    outputs = self._inference(batch['image'])
    if not self._write:
      return
    processed = self._task.post_processor(outputs)
    data = self._params.task.validation_data
    mean = np.asarray(data.mean, np.float32)
    std = np.asarray(data.std, np.float32)
    image = np.clip(batch['image'].numpy() * std + mean, 0.0, 1.0)
    heat = np.clip(outputs['center_heatmap'].numpy(), 0.0, 1.0)
    if self._writer is None:
      self._writer = tf.summary.create_file_writer(self._dir)
    with self._writer.as_default(step=step):
      tf.summary.image('images/input', image, max_outputs=self._max)
      tf.summary.image('images/predicted_panoptic',
                       self._colors(processed['panoptic']),
                       max_outputs=self._max)
      tf.summary.image('images/groundtruth_panoptic',
                       self._colors(batch['panoptic']),
                       max_outputs=self._max)
      tf.summary.image('images/center_heatmap', heat, max_outputs=self._max)
    self._writer.flush()
