"""`make demo`: train and evaluate a tiny Axial-DeepLab on synthetic shapes.

`run_demo(root, run_dir, data_dir, train_steps)` (trainer/demo.py is its
main; `root` is the repository, holding trainer/ and configs/):

1. Writes the synthetic shapes dataset (64 x 64 px, 400 train / 100 val)
   to `data_dir`, unless it is already there.
2. Runs the real trainer, `trainer/train.py --experiment=axial_deeplab_shapes
   --config_file=configs/axial_deeplab_shapes.yaml --mode=train_and_eval`,
   in a subprocess, with the run folder as --model_dir (checkpoints,
   TensorBoard logs under train/ and validation/, params.yaml,
   metrics.json); its full log goes to <run folder>/train_log.txt.
3. Prints PQ / SQ / RQ (All, Things, Stuff), mIoU and mask AP of the final
   evaluation on the validation split, the wall time, and the run folder;
   writes them to <run folder>/demo_summary.json.
4. Exports the trained model as a SavedModel (<run folder>/export/<version>)
   and runs trainer/predict.py on a few validation images
   (<run folder>/predictions: COCO panoptic PNGs, panoptic.json, overlays).

Rerunning with the same run folder resumes from its last checkpoint.
"""

import json
import os
import subprocess
import sys
import time

from typing import Dict, List, Optional

import tensorflow as tf

from axial_deeplab_tf import dataloaders
from axial_deeplab_tf.configs import panoptic_experiments
from axial_deeplab_tf.data import schema

EXPERIMENT = 'axial_deeplab_shapes'
ROWS = (('PQ', 'All_pq'), ('SQ', 'All_sq'), ('RQ', 'All_rq'),
        ('PQ things', 'Things_pq'), ('PQ stuff', 'Stuff_pq'),
        ('mIoU', 'mean_iou'), ('mask AP', 'mask_AP'),
        ('mask AP50', 'mask_AP50'))


class DemoFailed(RuntimeError):
  """A trainer subprocess of the demo failed; `returncode` is its status."""

  def __init__(self, message: str, returncode: int):
    super().__init__(message)
    self.returncode = returncode


def _write_dataset(data_dir: str) -> Dict[str, str]:
  """The experiment's default synthetic dataset (SHAPES_DATA), written to
  data_dir unless it is already there."""
  data = dict(panoptic_experiments.SHAPES_DATA)
  size = data.pop('image_size')
  return dataloaders.ensure_synthetic_dataset(
      data_dir, config=dataloaders.SyntheticConfig(image_size=size), **data)


def _run(command: List[str], env: Dict[str, str], what: str) -> None:
  """Runs a trainer script; raises DemoFailed if it fails."""
  print('[demo] ' + ' '.join(command), flush=True)
  # absl's INFO lines of SavedModel writing are noise here.
  result = subprocess.run(command + ['--verbosity=-1'], env=env, check=False)
  if result.returncode:
    raise DemoFailed(f'[demo] {what} failed (exit {result.returncode})',
                     result.returncode)


def _write_val_images(val_pattern: str, out_dir: str, count: int) -> str:
  """Writes the first `count` validation images as PNG files."""
  os.makedirs(out_dir, exist_ok=True)
  files = sorted(tf.io.gfile.glob(val_pattern))
  for index, record in enumerate(tf.data.TFRecordDataset(files).take(count)):
    features = tf.io.parse_single_example(
        record, {schema.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string)})
    image = tf.io.decode_image(features[schema.IMAGE_ENCODED], channels=3)
    tf.io.write_file(os.path.join(out_dir, f'val_{index:03d}.png'),
                     tf.io.encode_png(image))
  return out_dir


def _export_and_predict(root: str, run_dir: str, val_pattern: str,
                        env: Dict[str, str]) -> None:
  """Exports the run's model and predicts on a few validation images."""
  export_dir = os.path.join(run_dir, 'export')
  _run([sys.executable, os.path.join(root, 'trainer', 'export_saved_model.py'),
        f'--experiment={EXPERIMENT}',
        f'--config_file={os.path.join(root, "configs", EXPERIMENT)}.yaml',
        f'--checkpoint_path={run_dir}', f'--export_dir={export_dir}',
        '--nooutput_instance_masks'], env, 'export')
  images = _write_val_images(val_pattern, os.path.join(run_dir, 'val_images'),
                             4)
  predictions = os.path.join(run_dir, 'predictions')
  _run([sys.executable, os.path.join(root, 'trainer', 'predict.py'),
        f'--saved_model_dir={export_dir}', f'--inputs={images}',
        f'--output_dir={predictions}', '--palette=synthetic'], env,
       'predict')
  print(f'[demo] SavedModel: {export_dir}; predictions and overlays: '
        f'{predictions}', flush=True)


def run_demo(root: str, run_dir: Optional[str], data_dir: Optional[str],
             train_steps: Optional[int]) -> int:
  """Runs the four steps of the module docstring; returns an exit status.

  Args:
    root: the repository (holding trainer/ and configs/).
    run_dir: the run folder (None: <root>/runs/demo-<UTC time>).
    data_dir: the synthetic dataset's folder (None:
      <root>/runs/data/synthetic_64).
    train_steps: overrides trainer.train_steps and the decay steps.
  """
  start = time.time()
  run_dir = os.path.abspath(run_dir or os.path.join(
      root, 'runs', time.strftime('demo-%Y%m%d-%H%M%S', time.gmtime())))
  data_dir = data_dir or os.path.join(root,
                                      panoptic_experiments.SHAPES_DATA_DIR)
  os.makedirs(run_dir, exist_ok=True)
  print(f'[demo] run folder: {run_dir}', flush=True)
  paths = _write_dataset(data_dir)
  print(f'[demo] synthetic dataset: {data_dir} '
        f'({time.time() - start:.0f} s)', flush=True)
  override = (f'task.train_data.input_path={paths["train"]},'
              f'task.validation_data.input_path={paths["val"]}')
  if train_steps:
    override += (f',trainer.train_steps={train_steps},'
                 f'trainer.optimizer_config.learning_rate.polynomial.'
                 f'decay_steps={train_steps}')
  command = [sys.executable, os.path.join(root, 'trainer', 'train.py'),
             f'--experiment={EXPERIMENT}',
             f'--config_file={os.path.join(root, "configs", EXPERIMENT)}.yaml',
             '--mode=train_and_eval', f'--model_dir={run_dir}',
             f'--params_override={override}']
  env = dict(os.environ)
  env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  print('[demo] ' + ' '.join(command), flush=True)
  with open(os.path.join(run_dir, 'train_log.txt'), 'a') as log:
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
      log.write(line)
      # The trainer's own progress lines and evaluation headers.
      if (line.startswith(('step ', 'ERROR', 'init_checkpoint'))
          or 'training until' in line and line.startswith('train |')
          or line.startswith(' eval |') and 'output' not in line
          or line.startswith('restored from checkpoint')):
        print(line.rstrip(), flush=True)
    process.wait()
  if process.returncode:
    print(f'[demo] trainer failed (exit {process.returncode}); see '
          f'{run_dir}/train_log.txt', flush=True)
    return process.returncode
  with open(os.path.join(run_dir, 'metrics.json')) as f:
    metrics = json.load(f)
  wall = time.time() - start
  print(f'\n[demo] Axial-DeepLab (tiny) on synthetic shapes, validation '
        f'split (100 images, 64 x 64), step {metrics["global_step"]}:')
  for label, key in ROWS:
    print(f'  {label:10s} {metrics.get(key, float("nan")):.3f}')
  print(f'[demo] wall time {wall / 60:.1f} min on {os.cpu_count()} CPU '
        f'cores')
  summary = {'metrics': {k: metrics.get(k) for _, k in ROWS},
             'global_step': metrics['global_step'], 'wall_seconds': wall,
             'cpu_count': os.cpu_count(), 'run_dir': run_dir}
  with open(os.path.join(run_dir, 'demo_summary.json'), 'w') as f:
    json.dump(summary, f, indent=1)
  try:
    _export_and_predict(root, run_dir, paths['val'], env)
  except DemoFailed as e:
    print(e, flush=True)
    return e.returncode
  print(f'[demo] everything is in {run_dir} (checkpoints, TensorBoard: '
        f'tensorboard --logdir {run_dir}, metrics.json, '
        f'demo_summary.json)')
  return 0
