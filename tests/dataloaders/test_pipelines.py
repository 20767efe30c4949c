"""build_panoptic_dataset / build_classification_dataset end to end."""

import glob
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf import dataloaders
from axial_deeplab_tf.configs.classification import ClassificationDataConfig
from axial_deeplab_tf.configs.panoptic import PanopticDataConfig
from axial_deeplab_tf.dataloaders import classification_input
from axial_deeplab_tf.data import schema
from axial_deeplab_tf.dataloaders import synthetic

ENCODING = synthetic.ENCODING
# Training configs shuffle with this buffer. The defaults (10000
# classification, 1000 panoptic) make a pipeline over a dozen records fill
# its buffer with thousands of repeated ones before the first batch: about
# 8 s per classification pipeline on the loaded 2-core machine, 0.6 s
# with this one.
SHUFFLE = 8

TRAIN_KEYS = {'image', 'semantic', 'semantic_weights', 'center_heatmap',
              'center_offsets', 'center_weights', 'offset_weights',
              'panoptic', 'valid_mask', 'image_info'}


@pytest.fixture(scope='module')
def synthetic_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('synthetic')
  synthetic.write_synthetic_dataset(
      str(root), num_train=12, num_val=6, seed=0, num_shards=3,
      config=synthetic.SyntheticConfig(image_size=40))
  return str(root)


def _take(ds, n):
  return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def test_train_batches_shapes_and_dtypes(synthetic_dir):
  config = PanopticDataConfig(
      input_path=synthetic_dir + '/train-*', crop_size=(32, 48),
      global_batch_size=4, seed=1, deterministic=True,
      shuffle_buffer_size=SHUFFLE)
  batch = _take(dataloaders.build_panoptic_dataset(config, ENCODING), 1)[0]
  assert set(batch) == TRAIN_KEYS
  shapes = {'image': (4, 32, 48, 3), 'center_heatmap': (4, 32, 48, 1),
            'center_offsets': (4, 32, 48, 2), 'image_info': (4, 4, 2)}
  for key in TRAIN_KEYS:
    assert batch[key].shape == shapes.get(key, (4, 32, 48)), key
  assert batch['semantic'].dtype == np.int32
  assert batch['panoptic'].dtype == np.int32
  assert batch['image'].dtype == np.float32
  assert set(np.unique(batch['semantic'])) <= {0, 1, 2, 3, 4, 255}
  np.testing.assert_array_equal(batch['image_info'][:, 0], [[40, 40]] * 4)


def test_deterministic_option_reproduces_batches(synthetic_dir):
  def run(seed):
    config = PanopticDataConfig(
        input_path=synthetic_dir + '/train-*', crop_size=(24, 24),
        global_batch_size=3, seed=seed, deterministic=True,
        shuffle_buffer_size=SHUFFLE)
    return _take(dataloaders.build_panoptic_dataset(config, ENCODING), 3)
  a, b, c = run(5), run(5), run(6)
  for x, y in zip(a, b):
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])
  assert any(not np.array_equal(x['image'], z['image']) for x, z in zip(a, c))


def test_eval_pads_to_divisor_and_reports_info(synthetic_dir):
  config = PanopticDataConfig(
      input_path=synthetic_dir + '/val-*', is_training=False,
      global_batch_size=4, pad_size_divisor=16, pad_size_offset=1,
      deterministic=True)
  batches = _take(dataloaders.build_panoptic_dataset(config, ENCODING), 10)
  assert [b['image'].shape[0] for b in batches] == [4, 2]
  b = batches[0]
  assert b['image'].shape == (4, 49, 49, 3)  # 40 -> 3 * 16 + 1
  np.testing.assert_array_equal(b['image_info'][0],
                                [[40, 40], [49, 49], [1, 1], [0, 0]])
  assert (b['valid_mask'][:, :40, :40] == 1).all()
  assert (b['valid_mask'][:, 40:] == 0).all() and (b['valid_mask'][:, :, 40:] == 0).all()
  assert (b['panoptic'][:, 40:] == -1).all()
  assert (b['semantic'][:, :, 40:] == 255).all()
  assert (b['image'][:, 40:] == 0).all()  # mean pixel normalizes to 0
  assert (b['panoptic'][:, :40, :40] >= 0).all()  # synthetic: no void
  assert b['source_id'].shape == (4,)


def test_eval_fixed_pad_size(synthetic_dir):
  config = PanopticDataConfig(
      input_path=synthetic_dir + '/val-*', is_training=False,
      global_batch_size=2, eval_pad_size=(41, 57), drop_remainder=False)
  ds = dataloaders.build_panoptic_dataset(config, ENCODING)
  assert ds.element_spec['center_offsets'].shape.as_list() == [None, 41, 57, 2]
  b = _take(ds, 1)[0]
  assert b['image'].shape == (2, 41, 57, 3)
  small = PanopticDataConfig(
      input_path=synthetic_dir + '/val-*', is_training=False,
      global_batch_size=2, eval_pad_size=(20, 20))
  with pytest.raises(tf.errors.InvalidArgumentError, match='eval_pad_size'):
    _take(dataloaders.build_panoptic_dataset(small, ENCODING), 1)


def test_input_context_shards_disjointly(synthetic_dir):
  ids = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=pipeline_id,
        num_replicas_in_sync=2)
    config = PanopticDataConfig(
        input_path=synthetic_dir + '/val-*', is_training=False,
        global_batch_size=4, deterministic=True)
    batches = _take(
        dataloaders.build_panoptic_dataset(config, ENCODING, context), 10)
    assert all(b['image'].shape[0] <= 2 for b in batches)  # per replica
    ids.append({s for b in batches for s in b['source_id']})
  assert not ids[0] & ids[1]
  assert len(ids[0] | ids[1]) == 6


def test_missing_files_and_bad_source_name_the_argument(tmp_path):
  config = PanopticDataConfig(input_path=str(tmp_path / 'no-*'))
  with pytest.raises(ValueError,
                     match=r"input_path: .*no-\*.*does not match any files"):
    dataloaders.build_panoptic_dataset(config, ENCODING)
  with pytest.raises(ValueError, match='exactly one of input_path'):
    dataloaders.build_panoptic_dataset(PanopticDataConfig(), ENCODING)


def _write_classification(path, n, rng):
  with tf.io.TFRecordWriter(path) as writer:
    for i in range(n):
      h, w = 20 + 3 * i, 30 - 2 * i
      image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
      writer.write(schema.make_classification_example(
          schema.encode_png(image), i % 3).SerializeToString())


def test_classification_train_and_eval(tmp_path, rng):
  path = str(tmp_path / 'cls.tfrecord')
  _write_classification(path, 5, rng)
  train = ClassificationDataConfig(
      input_path=path, image_size=16, global_batch_size=2, seed=0,
      deterministic=True, shuffle_buffer_size=SHUFFLE)
  b = _take(dataloaders.build_classification_dataset(train), 3)
  assert b[0]['image'].shape == (2, 16, 16, 3)
  assert b[0]['label'].dtype == np.int32
  evaluation = ClassificationDataConfig(
      input_path=path, image_size=16, global_batch_size=2, is_training=False,
      deterministic=True)
  b = _take(dataloaders.build_classification_dataset(evaluation), 5)
  assert [len(x['label']) for x in b] == [2, 2, 1]
  np.testing.assert_array_equal(np.concatenate([x['label'] for x in b]),
                                [0, 1, 2, 0, 1])


def _classification_files(folder, rng, num_files=2, per_file=3):
  """Files of distinct labels: file f holds labels f * per_file + i."""
  paths = []
  for f in range(num_files):
    path = str(folder / f'cls-{f}.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:
      for i in range(per_file):
        image = rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)
        writer.write(schema.make_classification_example(
            schema.encode_png(image), f * per_file + i).SerializeToString())
    paths.append(path)
  return paths


def test_classification_seed_reproduces_and_cache_augments_afresh(
    tmp_path, rng):
  paths = _classification_files(tmp_path, rng)

  def run(seed, **kwargs):
    config = ClassificationDataConfig(
        input_path=paths, image_size=8, global_batch_size=3, seed=seed,
        deterministic=True, **{'shuffle_buffer_size': SHUFFLE, **kwargs})
    return _take(dataloaders.build_classification_dataset(config), 4)
  a, b, c = run(5), run(5), run(6)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x['image'], y['image'])
    np.testing.assert_array_equal(x['label'], y['label'])
  assert any(not np.array_equal(x['image'], z['image']) for x, z in zip(a, c))
  # Cached: 6 examples, 2 batches an epoch; each epoch has all labels once
  # and new crops of each example.
  cached = run(5, cache=True, shuffle_buffer_size=1)
  epochs = [np.concatenate([b['label'] for b in cached[i:i + 2]])
            for i in (0, 2)]
  for labels in epochs:
    assert sorted(labels) == list(range(6))
  first = {l: im for b in cached[:2] for l, im in zip(b['label'], b['image'])}
  second = {l: im for b in cached[2:] for l, im in zip(b['label'],
                                                      b['image'])}
  assert any(not np.array_equal(first[l], second[l]) for l in range(6))


def test_classification_shards_per_pipeline_in_record_order(tmp_path, rng):
  paths = _classification_files(tmp_path, rng)
  labels = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=pipeline_id,
        num_replicas_in_sync=2)
    config = ClassificationDataConfig(
        input_path=paths[::-1], image_size=8, global_batch_size=4,
        is_training=False)
    batches = _take(
        dataloaders.build_classification_dataset(config, context), 10)
    assert [len(b['label']) for b in batches] == [2, 1]  # per replica
    labels.append(np.concatenate([b['label'] for b in batches]).tolist())
  # One sorted file per pipeline, its records in order.
  assert labels == [[0, 1, 2], [3, 4, 5]]


def test_classification_source_errors_name_the_key(tmp_path):
  with pytest.raises(ValueError,
                     match=r"input_path: .*no-\*.*does not match any files"):
    dataloaders.build_classification_dataset(
        ClassificationDataConfig(input_path=str(tmp_path / 'no-*')))
  with pytest.raises(ValueError, match='exactly one of input_path'):
    dataloaders.build_classification_dataset(ClassificationDataConfig())


def test_classification_center_crop_matches_numpy():
  # 16x24 image, fraction 0.5: the central 8x8 square, rows 4-11, cols 8-15;
  # resized to its own size it is an exact copy.
  image = np.arange(16 * 24 * 3).reshape(16, 24, 3) % 251
  got = classification_input.center_crop(tf.constant(image, tf.uint8), 8, 0.5)
  np.testing.assert_allclose(got.numpy(), image[4:12, 8:16], atol=1e-4)


def test_random_resized_crop_is_a_window_of_the_image():
  yy, xx = np.mgrid[0:40, 0:40]
  image = np.stack([yy * 6, xx * 6, np.zeros_like(yy)], -1).astype(np.uint8)
  for seed in range(5):
    crop = classification_input.random_resized_crop(
        tf.constant(image), tf.constant([seed, 1]), 12, (0.08, 1.0),
        (3 / 4, 4 / 3)).numpy()
    # Rows vary only down the crop, columns only across it, increasingly.
    assert (np.diff(crop[..., 0], axis=0) >= -1e-3).all()
    assert (np.diff(crop[..., 1], axis=1) >= -1e-3).all()
    assert np.allclose(crop[..., 0], crop[:, :1, 0], atol=1e-3)


def test_eval_keeps_record_order_and_train_info_has_crop_offset(synthetic_dir):
  config = PanopticDataConfig(
      input_path=synthetic_dir + '/val-*', is_training=False,
      global_batch_size=6, eval_pad_size=(40, 40))
  b = _take(dataloaders.build_panoptic_dataset(config, ENCODING), 1)[0]
  # Item i is record i // 3 of shard i % 3; interleave takes one record
  # from each shard in turn, so evaluation sees the items in order.
  assert [s.decode() for s in b['source_id']] == [
      f'val_{i:06d}' for i in range(6)]
  # Files are read in sorted order whatever order they are listed in.
  shards = sorted(glob.glob(synthetic_dir + '/val-*'))
  reverse = PanopticDataConfig(
      input_path=shards[::-1], is_training=False, global_batch_size=6,
      eval_pad_size=(40, 40))
  b = _take(dataloaders.build_panoptic_dataset(reverse, ENCODING), 1)[0]
  assert [s.decode() for s in b['source_id']] == [
      f'val_{i:06d}' for i in range(6)]
  config = PanopticDataConfig(
      input_path=synthetic_dir + '/train-*', crop_size=(16, 16), min_scale=1,
      max_scale=1, flip=False, global_batch_size=8, seed=2,
      deterministic=True, shuffle_buffer_size=SHUFFLE)
  b = _take(dataloaders.build_panoptic_dataset(config, ENCODING), 1)[0]
  offsets = b['image_info'][:, 3]
  assert ((offsets >= 0) & (offsets <= 24)).all() and offsets.any()
  np.testing.assert_array_equal(b['image_info'][:, 2], np.ones((8, 2)))


def test_distribute_datasets_from_function():
  strategy = tf.distribute.get_strategy()
  root = tempfile.mkdtemp()
  synthetic.write_synthetic_dataset(
      root, 4, 0, seed=1, num_shards=1,
      config=synthetic.SyntheticConfig(image_size=24))
  config = PanopticDataConfig(
      input_path=root + '/train-*', crop_size=(16, 16), global_batch_size=2,
      seed=0, shuffle_buffer_size=SHUFFLE)
  dist = strategy.distribute_datasets_from_function(
      lambda ctx: dataloaders.build_panoptic_dataset(config, ENCODING, ctx))
  batch = next(iter(dist))
  assert batch['center_heatmap'].shape == (2, 16, 16, 1)
