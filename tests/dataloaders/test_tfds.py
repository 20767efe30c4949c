"""TFDS sources give the same batches as our TFRecords (mocked, no download)."""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from axial_deeplab_tf import dataloaders
from axial_deeplab_tf.configs.classification import ClassificationDataConfig
from axial_deeplab_tf.configs.panoptic import PanopticDataConfig
from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.data import schema

# COCO panoptic: 133 classes, the first 80 are things.
COCO = PanopticEncoding(num_classes=133, thing_class_ids=range(80),
                        label_divisor=256)


def _coco_elements(rng, n=3):
  """Consistent coco/2017_panoptic-like elements (the random mock's are not:
  its object lists have unrelated lengths and its PNG another size)."""
  elements = []
  for i in range(n):
    h, w = 20 + 4 * i, 24
    ids = np.zeros((h, w), np.int64)
    ids[:, :12] = 5000 + i
    ids[:, 12:] = 9000
    ids[3:9, 2:8] = 70000 + i
    ids[10:16, 14:20] = 260
    ids[0, 0] = 33  # not listed: void
    objects = {'id': np.array([260, 9000, 70000 + i, 5000 + i], np.int64),
               'label': np.array([7, 120, 0, 85], np.int64),
               'is_crowd': np.array([i == 1, False, False, False]),
               'area': np.zeros(4, np.int64),
               'bbox': np.zeros((4, 4), np.float32)}
    elements.append({
        'image': rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        'image/filename': f'{i:012d}.jpg', 'image/id': i,
        'panoptic_image': schema.ids_to_rgb(ids),
        'panoptic_image/filename': f'{i:012d}.png',
        'panoptic_objects': objects})
  return elements


def _mock_as_dataset(elements):
  signature = {
      'image': tf.TensorSpec([None, None, 3], tf.uint8),
      'image/filename': tf.TensorSpec([], tf.string),
      'image/id': tf.TensorSpec([], tf.int64),
      'panoptic_image': tf.TensorSpec([None, None, 3], tf.uint8),
      'panoptic_image/filename': tf.TensorSpec([], tf.string),
      'panoptic_objects': {
          'id': tf.TensorSpec([None], tf.int64),
          'label': tf.TensorSpec([None], tf.int64),
          'is_crowd': tf.TensorSpec([None], tf.bool),
          'area': tf.TensorSpec([None], tf.int64),
          'bbox': tf.TensorSpec([None, 4], tf.float32)}}

  def as_dataset(self, *args, **kwargs):
    del self, args, kwargs
    return tf.data.Dataset.from_generator(lambda: iter(elements),
                                          output_signature=signature)
  return as_dataset


def _to_tfrecord(elements, path):
  with tf.io.TFRecordWriter(path) as writer:
    for e in elements:
      o = e['panoptic_objects']
      h, w = e['image'].shape[:2]
      writer.write(schema.make_panoptic_example(
          schema.encode_png(e['image']), h, w,
          schema.encode_png(e['panoptic_image']), o['id'], o['label'],
          o['is_crowd'].astype(int), (o['label'] < 80).astype(int),
          source_id=e['image/filename']).SerializeToString())


def _batches(ds):
  return [{k: v.numpy() for k, v in b.items()} for b in ds]


def test_coco_panoptic_tfds_matches_tfrecord_path(tmp_path, rng):
  elements = _coco_elements(rng)
  path = str(tmp_path / 'coco.tfrecord')
  _to_tfrecord(elements, path)
  common = dict(is_training=False, global_batch_size=1, deterministic=True,
                pad_size_divisor=8)
  with tfds.testing.mock_data(as_dataset_fn=_mock_as_dataset(elements)):
    from_tfds = _batches(dataloaders.build_panoptic_dataset(
        PanopticDataConfig(tfds_name='coco/2017_panoptic', tfds_split='val',
                           **common), COCO))
  from_files = _batches(dataloaders.build_panoptic_dataset(
      PanopticDataConfig(input_path=path, **common), COCO))
  assert len(from_tfds) == len(from_files) == 3
  for a, b in zip(from_tfds, from_files):
    assert set(a) == set(b)
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  # Independent expectations: label 0 (< 80) is a thing, 120 is stuff.
  first = from_tfds[0]
  # Instances are numbered in list order: 260 first, then 70000.
  assert first['panoptic'][0, 5, 5] == 0 * 256 + 2
  assert first['panoptic'][0, 12, 16] == 7 * 256 + 1
  assert first['panoptic'][0, 1, 20] == 120 * 256
  assert first['semantic'][0, 0, 0] == 255  # unlisted id 33
  # In element 1, segment 260 is a crowd: no offsets, class kept.
  second = from_tfds[1]
  assert second['offset_weights'][0, 12, 16] == 0
  assert second['semantic'][0, 12, 16] == 7


def test_coco_panoptic_tfds_training_batches(rng):
  elements = _coco_elements(rng)
  with tfds.testing.mock_data(as_dataset_fn=_mock_as_dataset(elements)):
    config = PanopticDataConfig(
        tfds_name='coco/2017_panoptic', tfds_split='train',
        crop_size=(16, 16), global_batch_size=2, seed=0, deterministic=True)
    batch = next(iter(dataloaders.build_panoptic_dataset(config, COCO)))
  assert batch['image'].shape == (2, 16, 16, 3)
  assert batch['center_offsets'].shape == (2, 16, 16, 2)


def test_classification_tfds_matches_tfrecord_path(tmp_path):
  for name in ('imagenette', 'imagenet2012'):
    with tfds.testing.mock_data(num_examples=4):
      raw = [{k: v.numpy() for k, v in e.items()}
             for e in tfds.load(name, split='train')]
      common = dict(is_training=False, global_batch_size=2, image_size=16,
                    deterministic=True)
      from_tfds = _batches(dataloaders.build_classification_dataset(
          ClassificationDataConfig(tfds_name=name, tfds_split='train',
                                   **common)))
    path = str(tmp_path / f'{name}.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:
      for e in raw:
        writer.write(schema.make_classification_example(
            schema.encode_png(e['image']), int(e['label'])).SerializeToString())
    from_files = _batches(dataloaders.build_classification_dataset(
        ClassificationDataConfig(input_path=path, **common)))
    assert len(from_tfds) == 2
    for a, b in zip(from_tfds, from_files):
      np.testing.assert_array_equal(a['label'], b['label'])
      np.testing.assert_allclose(a['image'], b['image'], atol=1e-5)
    assert from_tfds[0]['image'].shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(
        np.concatenate([b['label'] for b in from_tfds]),
        [e['label'] for e in raw])
