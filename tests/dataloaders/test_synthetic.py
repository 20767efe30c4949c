"""Synthetic shapes dataset: exact labels, determinism, splits, format."""

import glob
import json
import os

import numpy as np
import tensorflow as tf

from axial_deeplab_tf.dataloaders import panoptic_decoder
from axial_deeplab_tf.dataloaders import synthetic
from axial_deeplab_tf.dataloaders import targets


def _read_all(pattern):
  decoder = panoptic_decoder.PanopticDecoder()
  out = []
  for path in sorted(glob.glob(pattern)):
    for record in tf.data.TFRecordDataset(path):
      out.append({k: v.numpy() for k, v in decoder.decode(record).items()})
  return out


def test_examples_are_consistent_and_learnable():
  config = synthetic.SyntheticConfig(image_size=64)
  for index in range(20):
    ex = synthetic.make_example(np.random.default_rng([5, index]), config)
    ids = ex['ids']
    # Every pixel belongs to a listed segment; every listed segment shows.
    assert set(np.unique(ids)) == set(ex['segment_ids'].tolist())
    things = ex['is_thing'] == 1
    assert things.sum() >= 1
    assert set(ex['class_ids'][things]) <= {2, 3, 4}
    assert set(ex['class_ids'][~things]) <= {0, 1}
    for sid, thing in zip(ex['segment_ids'], ex['is_thing']):
      area = (ids == sid).sum()
      if thing:
        assert area >= config.min_instance_area
    # A thing's interior (non-rim) pixels share one colour up to noise:
    # the image is rendered from the labels.
    for sid in ex['segment_ids'][things]:
      m = ids == sid
      core = m & np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1)
      if core.sum() > 10:
        assert ex['image'][core].astype(float).std(0).max() < 15


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
  a = synthetic.write_synthetic_dataset(str(tmp_path / 'a'), 6, 3, seed=3,
                                        num_shards=2)
  b = synthetic.write_synthetic_dataset(str(tmp_path / 'b'), 6, 3, seed=3,
                                        num_shards=3, num_workers=1)
  c = synthetic.write_synthetic_dataset(str(tmp_path / 'c'), 6, 3, seed=4,
                                        num_shards=2)
  assert len(a['train']) == 2 and len(b['train']) == 3
  def images(root, split):
    exs = _read_all(os.path.join(root, f'{split}-*'))
    return {e['source_id']: e for e in exs}
  ea, eb, ec = (images(str(tmp_path / x), 'train') for x in 'abc')
  assert sorted(ea) == [f'train_{i:06d}'.encode() for i in range(6)]
  for key in ea:
    np.testing.assert_array_equal(ea[key]['image'], eb[key]['image'])
    np.testing.assert_array_equal(ea[key]['segments'], eb[key]['segments'])
  assert any(not np.array_equal(ea[k]['image'], ec[k]['image']) for k in ea)
  val = images(str(tmp_path / 'a'), 'val')
  assert len(val) == 3
  assert not np.array_equal(val[b'val_000000']['image'],
                            ea[b'train_000000']['image'])
  classes = json.load(open(tmp_path / 'a' / 'classes.json'))['classes']
  assert [c['name'] for c in classes] == ['stripes', 'speckle', 'circle',
                                          'square', 'triangle']
  assert not glob.glob(str(tmp_path / 'a' / '*.tmp-*'))


def test_decoded_labels_equal_generated_labels(tmp_path):
  config = synthetic.SyntheticConfig(image_size=48)
  synthetic.write_synthetic_dataset(str(tmp_path), 4, 0, seed=9,
                                    num_shards=1, config=config)
  decoded = {e['source_id']: e for e in _read_all(str(tmp_path / 'train-*'))}
  for i in range(4):
    ex = synthetic.make_example(np.random.default_rng([9, 0, i]), config)
    got = decoded[f'train_{i:06d}'.encode()]
    np.testing.assert_array_equal(got['image'], ex['image'])
    # Segment index k maps back to the k-th listed id.
    ids = np.concatenate([[0], ex['segment_ids']])[got['segments']]
    np.testing.assert_array_equal(ids, ex['ids'])
    np.testing.assert_array_equal(got['class_ids'], ex['class_ids'])


def test_targets_regroup_into_the_exact_instances():
  """Panoptic-DeepLab grouping of the *target* heatmap and offsets gives
  back every synthetic instance: the demo's labels are learnable as
  targets. Grouping is done here in numpy (peaks = heatmap == 1)."""
  config = synthetic.SyntheticConfig(image_size=64)
  for index in range(10):
    ex = synthetic.make_example(np.random.default_rng([11, index]), config)
    index_map = np.searchsorted(ex['segment_ids'], ex['ids']) + 1
    assert (ex['segment_ids'][index_map - 1] == ex['ids']).all()
    out = targets.panoptic_targets(
        tf.constant(index_map, tf.int32), tf.constant(ex['class_ids'], tf.int32),
        tf.constant(ex['is_crowd'].astype(bool)),
        tf.constant(ex['is_thing'].astype(bool)),
        label_divisor=synthetic.ENCODING.label_divisor, ignore_label=255,
        sigma=8.0, small_instance_area=4096, small_instance_weight=3.0,
        ignore_crowd_in_semantic=False)
    heat = out['center_heatmap'].numpy()[..., 0]
    offsets = out['center_offsets'].numpy()
    peaks = np.argwhere(np.isclose(heat, 1.0))
    things = out['offset_weights'].numpy() > 0
    ys, xs = np.nonzero(things)
    votes = np.stack([ys, xs], -1) + offsets[ys, xs]
    nearest = np.argmin(((votes[:, None] - peaks[None]) ** 2).sum(-1), 1)
    truth = ex['ids'][ys, xs]
    # One peak per instance, and each instance's pixels vote for one peak.
    assert len(peaks) == (ex['is_thing'] == 1).sum()
    pairs = set(zip(truth.tolist(), nearest.tolist()))
    assert len(pairs) == len(set(truth.tolist())) == len(peaks)


def test_ensure_writes_once(tmp_path):
  config = synthetic.SyntheticConfig(image_size=24)
  paths = synthetic.ensure_synthetic_dataset(str(tmp_path), 3, 2, seed=1,
                                             config=config)
  assert len(glob.glob(paths['train'])) >= 1 and len(glob.glob(paths['val'])) >= 1
  stamp = os.path.getmtime(tmp_path / 'classes.json')
  synthetic.ensure_synthetic_dataset(str(tmp_path), 3, 2, seed=1,
                                     config=config)
  assert os.path.getmtime(tmp_path / 'classes.json') == stamp
  synthetic.ensure_synthetic_dataset(str(tmp_path), 3, 2, seed=2,
                                     config=config)
  assert json.load(open(tmp_path / 'classes.json'))['seed'] == 2
