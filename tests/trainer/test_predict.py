"""trainer/predict.py end to end on a SavedModel of a tiny experiment model.

The export module comes from the experiment path export uses
(`load_experiment` + `build_export_module`), with every weight redrawn so
the predictions are not trivial.
"""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from axial_deeplab_tf.data import schema
from axial_deeplab_tf.serving import saved_model_export
from axial_deeplab_tf.train import experiment
from axial_deeplab_tf.train import export as experiment_export
import serving_models as sm
import trainer_helpers


def _smooth(rng, height, width, channels):
  small = rng.randint(0, 256, (1, height // 8 + 2, width // 8 + 2, channels))
  big = tf.image.resize(small.astype(np.float32), [height, width])[0].numpy()
  return np.clip(big, 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  base = tmp_path_factory.mktemp('predict')
  params = experiment.load_experiment(
      'axial_deeplab_shapes', params_override=trainer_helpers.TINY)
  module = experiment_export.build_export_module(
      params, output_instance_masks=False)
  sm.randomize(module.model, seed=0)
  saved = saved_model_export.export_saved_model(module, str(base / 'export'))
  rng = np.random.RandomState(0)
  folder = base / 'images'
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
  output = base / 'out'
  run = subprocess.run(
      [sys.executable, trainer_helpers.PREDICT,
       f'--saved_model_dir={os.path.dirname(saved)}', f'--inputs={folder}',
       f'--output_dir={output}', '--palette=synthetic', '--noprogress'],
      env=trainer_helpers.env(), capture_output=True, text=True, timeout=300, check=False)
  return dict(module=module, encoding=params.task.model.encoding(),
              run=run, output=output,
              images={'a_rgb': rgb, 'b_gray': np.repeat(gray[..., None], 3, -1),
                      'c_rgba': rgba[..., :3],
                      'd_gray16': np.repeat(gray[..., None], 3, -1)})


def _read_ids(path):
  return schema.rgb_to_ids(np.asarray(Image.open(path).convert('RGB')))


def test_cli_runs_and_reports_skipped_files(setup):
  run = setup['run']
  assert run.returncode == 0, run.stderr[-4000:]
  assert 'predicted 4 images, skipped 2' in run.stdout
  assert 'e_corrupt.jpg' in run.stderr and 'f_notes.txt' in run.stderr
  result = json.loads((setup['output'] / 'panoptic.json').read_text())
  assert [a['image_id'] for a in result['annotations']] == [
      'a_rgb', 'b_gray', 'c_rgba', 'd_gray16']
  assert len(result['skipped']) == 2
  assert len(result['categories']) == setup['encoding'].num_classes


def test_panoptic_pngs_match_the_model_and_json(setup):
  module, output = setup['module'], setup['output']
  encoding = setup['encoding']
  result = json.loads((output / 'panoptic.json').read_text())
  divisor = encoding.label_divisor
  for annotation in result['annotations']:
    name = annotation['image_id']
    image = setup['images'][name]
    ids = _read_ids(output / 'panoptic' / f'{name}.png')
    assert ids.shape == image.shape[:2]
    expected = module.serve(tf.constant(image[None]))['panoptic'].numpy()[0]
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


def test_sixteen_bit_image_uses_high_byte(setup):
  output = setup['output']
  np.testing.assert_array_equal(_read_ids(output / 'panoptic' / 'd_gray16.png'),
                                _read_ids(output / 'panoptic' / 'b_gray.png'))


def test_visualizations_written(setup):
  vis = setup['output'] / 'vis'
  for name, image in setup['images'].items():
    for suffix in ('overlay', 'center', 'offsets'):
      picture = np.asarray(Image.open(vis / f'{name}_{suffix}.png'))
      assert picture.shape == image.shape, (name, suffix)
