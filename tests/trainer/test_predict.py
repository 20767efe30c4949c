"""Export from a training run's folder, and trainer/predict.py on it.

The run folder is what trainer/train.py leaves behind: `params.yaml`
with an override the registered experiment lacks (semantic head width
12) and a checkpoint at step 7 of the tiny model, every weight redrawn so
the predictions are not trivial. Export goes through the functions
trainer/export_saved_model.py calls, without --config_file. The model
has a conv backbone (trainer_helpers.CONV): these checks are of the run
folder, the export settings and predict.py, and the attention's export
(folded) is checked in tests/serving and test_export_from_experiment.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import types

import numpy as np
from official.core import task_factory
from official.core import train_utils
from PIL import Image
import pytest
import tensorflow as tf

from axial_deeplab_tf.data import schema
from axial_deeplab_tf.serving import predictor as predictor_lib
from axial_deeplab_tf.serving import saved_model_export
from axial_deeplab_tf.train import cli
from axial_deeplab_tf.train import experiment
import serving_models as sm
import trainer_helpers

EXPERIMENT = 'axial_deeplab_shapes'
STEP = 7
HEAD_WIDTH = 12  # the registered experiment's (and TINY's) is 16


def _smooth(rng, height, width, channels):
  small = rng.randint(0, 256, (1, height // 8 + 2, width // 8 + 2, channels))
  big = tf.image.resize(small.astype(np.float32), [height, width])[0].numpy()
  return np.clip(big, 0, 255).astype(np.uint8)


def _flags(checkpoint_path, **kwargs):
  values = dict(experiment=EXPERIMENT, config_file=None, params_override='',
                tpu=None, checkpoint_path=str(checkpoint_path),
                saved_model_dir=None)
  values.update(kwargs)
  return types.SimpleNamespace(**values)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """A run folder (params.yaml + checkpoint), exported as export does."""
  base = tmp_path_factory.mktemp('predict')
  folder = base / 'run'
  params = experiment.load_experiment(
      EXPERIMENT, params_override=(
          f'{trainer_helpers.TINY},{trainer_helpers.CONV},'
          f'task.model.decoder.semantic_head_channels={HEAD_WIDTH}'))
  trained = task_factory.get_task(params.task).build_model()
  sm.randomize(trained, seed=0)
  checkpoint = tf.train.Checkpoint(model=trained, global_step=tf.Variable(
      STEP, dtype=tf.int64))  # the layout of Model Garden's trainer
  prefix = tf.train.CheckpointManager(checkpoint, str(folder), 1).save(
      checkpoint_number=STEP)
  train_utils.serialize_config(params, str(folder))
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    exported_params, module = cli.export_module_from_flags(
        _flags(folder), output_instance_masks=False)
  saved = saved_model_export.export_saved_model(
      module, str(base / 'export'), signature_keys=('serving_default',))
  return dict(base=base, folder=folder, prefix=prefix, trained=trained,
              params=exported_params, module=module, saved=saved,
              printed=printed.getvalue())


def test_export_keeps_the_runs_overrides_and_records_the_checkpoint(run):
  assert run['params'].task.model.decoder.semantic_head_channels == HEAD_WIDTH
  for restored, trained in zip(trainer_helpers.unfolded_weights(run['module'].model),
                               run['trained'].weights):
    np.testing.assert_array_equal(restored.numpy(), trained.numpy())
  printed = run['printed']
  assert (f'config: --experiment={EXPERIMENT} with '
          f'{run["folder"]}/params.yaml') in printed, printed
  assert f'restored checkpoint {run["prefix"]} (step {STEP})' in printed
  metadata = saved_model_export.read_metadata(run['saved'])
  assert metadata['checkpoint'] == {'path': run['prefix'], 'step': STEP}


def test_a_given_config_file_replaces_params_yaml(run, capsys):
  yaml_file = os.path.join(trainer_helpers.ROOT, 'configs',
                           f'{EXPERIMENT}.yaml')
  params = cli.checkpoint_params_from_flags(
      _flags(run['prefix'], config_file=[yaml_file]))
  assert params.task.model.decoder.semantic_head_channels != HEAD_WIDTH
  assert f'with {yaml_file}' in capsys.readouterr().out


@pytest.fixture(scope='module')
def cli_run(run):
  """trainer/predict.py on a folder of good, unreadable and large files."""
  rng = np.random.RandomState(0)
  folder = run['base'] / 'images'
  folder.mkdir()
  rgb = _smooth(rng, 40, 52, 3)
  Image.fromarray(rgb).save(folder / 'a_rgb.png')
  gray = _smooth(rng, 33, 37, 1)[..., 0]
  Image.fromarray(gray, 'L').save(folder / 'b_gray.png')
  rgba = _smooth(rng, 45, 34, 4)
  Image.fromarray(rgba, 'RGBA').save(folder / 'c_rgba.png')
  deep = (gray.astype(np.uint16) * 256 + 77)
  Image.fromarray(deep).save(folder / 'd_gray16.png')
  (folder / 'e_corrupt.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
  (folder / 'f_notes.txt').write_text('not an image')
  wide = _smooth(rng, 40, 100, 3)      # longest side 100 > 64
  Image.fromarray(wide).save(folder / 'g_wide.png')
  output = run['base'] / 'out'
  process = subprocess.run(
      [sys.executable, trainer_helpers.PREDICT,
       f'--saved_model_dir={os.path.dirname(run["saved"])}',
       f'--inputs={folder}', f'--output_dir={output}', '--palette=synthetic',
       '--max_image_size=64', '--noprogress'],
      env=trainer_helpers.env(), capture_output=True, text=True, timeout=300,
      check=False)
  gray3 = np.repeat(gray[..., None], 3, -1)
  return dict(process=process, output=output, prefix=run['prefix'],
              images={'a_rgb': rgb, 'b_gray': gray3, 'c_rgba': rgba[..., :3],
                      'd_gray16': gray3, 'g_wide': wide})


def _read_ids(path):
  return schema.rgb_to_ids(np.asarray(Image.open(path).convert('RGB')))


def _panoptic(module, image):
  return module.serve(tf.constant(image[None]))['panoptic'].numpy()[0]


def _expected_panoptic(module, image, max_size):
  """The model's panoptic map; a larger image is predicted at longest
  side `max_size` and each pixel takes the small map's pixel under its
  center."""
  height, width = image.shape[:2]
  if max(height, width) <= max_size:
    return _panoptic(module, image)
  scale = max_size / max(height, width)
  small_size = (round(height * scale), round(width * scale))
  small = _panoptic(module, np.clip(np.round(tf.image.resize(
      image.astype(np.float32), small_size, antialias=True).numpy()),
                                    0, 255).astype(np.uint8))
  expected = np.zeros((height, width), small.dtype)
  for i in range(height):
    for j in range(width):
      expected[i, j] = small[int((i + 0.5) * small_size[0] / height),
                             int((j + 0.5) * small_size[1] / width)]
  return expected


def test_cli_reports_skipped_files_in_its_exit_status(cli_run):
  process = cli_run['process']
  assert process.returncode == cli.EXIT_SKIPPED == 3, process.stderr[-4000:]
  assert 'predicted 5 images, skipped 2' in process.stdout
  assert (f'of checkpoint {cli_run["prefix"]} (step {STEP})'
          in process.stdout)
  assert 'e_corrupt.jpg' in process.stderr and 'f_notes.txt' in process.stderr
  assert 'resized from 40x100 to 26x64' in process.stderr
  result = json.loads((cli_run['output'] / 'panoptic.json').read_text())
  assert [a['image_id'] for a in result['annotations']] == [
      'a_rgb', 'b_gray', 'c_rgba', 'd_gray16', 'g_wide']
  assert [(os.path.basename(s['source_file']), s['reason'][:22])
          for s in result['skipped']] == [
              ('e_corrupt.jpg', 'not a readable image ('),
              ('f_notes.txt', 'not a readable image (')]
  assert len(result['categories']) == sm.NUM_CLASSES
  wide = result['annotations'][-1]
  assert (wide['height'], wide['width'], wide['predicted_size']) == (
      40, 100, [26, 64])


def test_panoptic_pngs_match_the_model_and_json(run, cli_run):
  module, output = run['module'], cli_run['output']
  encoding = run['params'].task.model.encoding()
  result = json.loads((output / 'panoptic.json').read_text())
  divisor = encoding.label_divisor
  for annotation in result['annotations']:
    name = annotation['image_id']
    image = cli_run['images'][name]
    ids = _read_ids(output / 'panoptic' / f'{name}.png')
    assert ids.shape == image.shape[:2]
    expected = _expected_panoptic(module, image, 64)
    # Rebuild the panoptic map from the PNG and segments_info.
    rebuilt = np.full(ids.shape, encoding.void_label * divisor)
    for segment in annotation['segments_info']:
      mask = ids == segment['id']
      assert mask.sum() == segment['area']
      x, y, w, h = segment['bbox']
      assert mask[y:y + h, x:x + w].sum() == segment['area']
      rebuilt[mask] = (segment['category_id'] * divisor
                       + segment.get('instance_id', 0))
      assert segment['isthing'] == int(segment['category_id'] in
                                       encoding.thing_class_ids)
    np.testing.assert_array_equal(rebuilt, expected, err_msg=name)


def test_sixteen_bit_image_uses_high_byte(cli_run):
  output = cli_run['output']
  np.testing.assert_array_equal(_read_ids(output / 'panoptic' / 'd_gray16.png'),
                                _read_ids(output / 'panoptic' / 'b_gray.png'))


def test_visualizations_written(cli_run):
  vis = cli_run['output'] / 'vis'
  for name, image in cli_run['images'].items():
    for suffix in ('overlay', 'center', 'offsets'):
      picture = np.asarray(Image.open(vis / f'{name}_{suffix}.png'))
      assert picture.shape == image.shape, (name, suffix)


class MemoryLimited:
  """A real predictor behind a pixel budget: a larger image raises
  TensorFlow's out-of-memory error, as a device without room would. Each
  call first records panoptic.json as it is on disk, which is what a
  process killed at that moment would leave."""

  def __init__(self, inner, max_pixels, json_path, interrupt_at=None):
    self.inner, self.max_pixels = inner, max_pixels
    self.encoding = inner.encoding
    self.json_path, self.interrupt_at = json_path, interrupt_at
    self.on_disk = []

  def __call__(self, image):
    self.on_disk.append(json.loads(self.json_path.read_text())
                        if self.json_path.exists() else None)
    if len(self.on_disk) == self.interrupt_at:
      raise KeyboardInterrupt()
    if image.shape[0] * image.shape[1] > self.max_pixels:
      raise tf.errors.ResourceExhaustedError(
          None, None, 'OOM when allocating tensor with shape[1001,12040,1001]')
    return self.inner(image)


def _folder_with_failures(folder):
  rng = np.random.RandomState(1)
  folder.mkdir()
  Image.fromarray(_smooth(rng, 40, 52, 3)).save(folder / 'a.png')
  (folder / 'b.jpg').write_bytes(b'\xff\xd8\xff\xe0 corrupt')
  Image.fromarray(_smooth(rng, 64, 64, 3)).save(folder / 'c.png')  # OOM
  Image.fromarray(_smooth(rng, 33, 37, 3)).save(folder / 'd.png')
  return [str(folder / n) for n in ('a.png', 'b.jpg', 'c.png', 'd.png')]


def test_failures_are_skipped_and_the_json_is_valid_throughout(run,
                                                               tmp_path):
  paths = _folder_with_failures(tmp_path / 'images')
  output = tmp_path / 'out'
  json_path = output / 'panoptic.json'
  inner = predictor_lib.ModulePredictor(run['module'])
  predictor = MemoryLimited(inner, 40 * 52, json_path)
  logged = []
  result = predictor_lib.predict_files(
      predictor, paths, str(output), np.zeros([5, 3], np.uint8),
      show_progress=False, log=logged.append)
  assert [a['source_file'] for a in result['annotations']] == [
      paths[0], paths[3]]
  assert [s['source_file'] for s in result['skipped']] == [paths[1], paths[2]]
  reasons = [s['reason'] for s in result['skipped']]
  assert reasons[0].startswith('not a readable image (')
  assert reasons[1].startswith('out of memory at 64x64 '
                               '(ResourceExhaustedError: OOM when')
  assert [l.split(':')[0] for l in logged] == [f'skipped {paths[1]}',
                                               f'skipped {paths[2]}']
  for name in ('a', 'd'):
    assert (output / 'panoptic' / f'{name}.png').exists()
    assert len(list((output / 'vis').glob(f'{name}_*.png'))) == 3
  for name in ('b', 'c'):
    assert not list(output.glob(f'**/{name}*.png'))
  assert json.loads(json_path.read_text()) == result
  # On disk before each model call (a, c, d): nothing, then every image
  # finished so far, each with its files written.
  listed = [None if d is None else
            ([a['image_id'] for a in d['annotations']],
             [os.path.basename(s['source_file']) for s in d['skipped']])
            for d in predictor.on_disk]
  assert listed == [None, (['a'], ['b.jpg']), (['a'], ['b.jpg', 'c.png'])]
  # Interrupted (Ctrl-C) at the second model call: the JSON keeps what
  # was done.
  again = tmp_path / 'again'
  predictor = MemoryLimited(inner, 40 * 52, again / 'panoptic.json',
                            interrupt_at=2)
  with pytest.raises(KeyboardInterrupt):
    predictor_lib.predict_files(predictor, paths, str(again),
                                np.zeros([5, 3], np.uint8),
                                show_progress=False, log=logged.append)
  kept = json.loads((again / 'panoptic.json').read_text())
  assert [a['image_id'] for a in kept['annotations']] == ['a']
  assert [s['source_file'] for s in kept['skipped']] == [paths[1]]
