"""Converters: round trips, every validation error, --skip_invalid, atomicity."""

import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.dataloaders import panoptic_decoder
from axial_deeplab_tf.data import schema
from axial_deeplab_tf.dataloaders import synthetic
from axial_deeplab_tf.data.converters import cityscapes_panoptic
from axial_deeplab_tf.data.converters import classification_folder
from axial_deeplab_tf.data.converters import coco_panoptic
from axial_deeplab_tf.data.converters import driver
from axial_deeplab_tf.data.converters import generic_folder
from axial_deeplab_tf.data.converters import shard_writer
import dl_folders
import dl_records

QUIET = dl_records.QUIET


def _coco(root, output, **kwargs):
  return coco_panoptic.convert_coco_panoptic(
      os.path.join(root, 'val2017'), os.path.join(root, 'panoptic_val2017'),
      os.path.join(root, 'panoptic_val2017.json'), output, split='val',
      **{**QUIET, **kwargs})


def test_coco_round_trip(tmp_path, rng):
  truth = dl_folders.write_coco(str(tmp_path / 'src'), rng)
  report = _coco(str(tmp_path / 'src'), str(tmp_path / 'out'), num_shards=2)
  assert report.num_written == 3 and report.num_skipped == 0
  assert len(report.shards) == 2
  records = dl_records.records(str(tmp_path / 'out'))
  assert sorted(records) == sorted(truth)
  # Independent of the code: sorted category ids 1, 3, 92, 200 -> 0..3.
  category_to_class = {1: 0, 3: 1, 92: 2, 200: 3}
  for name, (image, ids, segments) in truth.items():
    example, decoded = records[name]
    source = open(tmp_path / 'src' / 'val2017' / name, 'rb').read()
    assert dl_records.feature(example, schema.IMAGE_ENCODED) == [source]
    if name.endswith('.png'):
      np.testing.assert_array_equal(decoded['image'], image)
    dl_records.check_panoptic(decoded, ids, segments, category_to_class)
    thing = dict(zip(decoded['class_ids'], decoded['is_thing']))
    assert all(thing[c] == (c in (0, 1)) for c in thing)
  metadata = json.load(open(tmp_path / 'out' / 'classes.json'))
  classes = metadata['classes']
  assert [(c['id'], c['source_id'], c['isthing']) for c in classes] == [
      (0, 1, 1), (1, 3, 1), (2, 92, 0), (3, 200, 0)]
  # The panoptic encoding: 4 classes, things 0 and 1, COCO's divisor 256.
  assert metadata['encoding'] == {'num_classes': 4, 'thing_class_ids': [0, 1],
                                  'label_divisor': 256, 'void_label': 255}
  for line in ('task.model.num_classes=4', 'task.model.thing_class_ids=[0,1]',
               'task.model.post_processing.label_divisor=256'):
    assert line in report.summary()
  assert report.source_bytes == sum(
      os.path.getsize(p) for p in glob.glob(str(tmp_path / 'src' / '*' / '*')))


def test_cityscapes_round_trip(tmp_path, rng):
  root = str(tmp_path / 'cs')
  truth = dl_folders.write_cityscapes(root, rng)
  report = cityscapes_panoptic.convert_cityscapes_panoptic(
      os.path.join(root, 'leftImg8bit', 'val'),
      os.path.join(root, 'gtFine', 'cityscapes_panoptic_val'),
      os.path.join(root, 'gtFine', 'cityscapes_panoptic_val.json'),
      str(tmp_path / 'out'), split='val', **QUIET)
  assert report.num_written == 3
  records = dl_records.records(str(tmp_path / 'out'))
  category_to_class = {0: 0, 2: 1, 11: 2, 13: 3}
  for name, (image, ids, segments) in truth.items():
    _, decoded = records[name]
    np.testing.assert_array_equal(decoded['image'], image)
    dl_records.check_panoptic(decoded, ids, segments, category_to_class)
  encoding = json.load(open(tmp_path / 'out' / 'classes.json'))['encoding']
  assert encoding['num_classes'] == 4 and encoding['label_divisor'] == 1000


@pytest.mark.parametrize('yaml_classes', [False, True])
def test_generic_folder_round_trip(tmp_path, rng, yaml_classes):
  root = str(tmp_path / 'g')
  truth = dl_folders.write_generic(root, rng, yaml_classes=yaml_classes)
  report = generic_folder.convert_generic_folder(
      root, str(tmp_path / 'out'), split='val', **QUIET)
  assert report.num_written == 3
  records = dl_records.records(str(tmp_path / 'out'))
  user_to_class = {0: 0, 4: 1, 9: 2}  # sorted user ids -> 0..2
  for name, (_, semantic, instance) in truth.items():
    _, d = records[name]
    seg = d['segments']
    classes = np.concatenate([[255], d['class_ids']])[seg]
    want = np.vectorize(lambda v: user_to_class.get(v, 255))(semantic)
    np.testing.assert_array_equal(classes, want)
    crowd = np.concatenate([[False], d['is_crowd']])[seg]
    np.testing.assert_array_equal(crowd, (semantic == 4) & (instance == 0))
    # Thing pixels: same segment <=> same instance id.
    tree = semantic == 4
    pairs = set(zip(seg[tree].tolist(), instance[tree].tolist()))
    assert len(pairs) == len({p[0] for p in pairs}) == len(
        {p[1] for p in pairs}) == 3
    # Stuff pixels: one segment per class whatever the instance PNG says.
    assert len(np.unique(seg[semantic == 9])) == 1
    assert (seg[semantic == 255] == 0).all()


def test_classification_round_trip(tmp_path, rng):
  root = str(tmp_path / 'c')
  truth = dl_folders.write_classification(root, rng)
  report = classification_folder.convert_classification_folder(
      root, str(tmp_path / 'out'), **QUIET)
  assert report.num_written == 6
  assert 'task.model.num_classes=3' in report.summary()  # cat, dog, eel
  decoder = panoptic_decoder.ClassificationDecoder()
  seen = {}
  for path in glob.glob(str(tmp_path / 'out' / 'train-*')):
    for record in tf.data.TFRecordDataset(path):
      example = tf.train.Example.FromString(record.numpy())
      rel = dl_records.feature(example, schema.SOURCE_ID)[0].decode()
      d = decoder.decode(record)
      seen[rel] = (dl_records.feature(example, schema.IMAGE_ENCODED)[0],
                   int(d['label']), d['image'].numpy())
  assert sorted(seen) == sorted(truth)
  for rel, (image, label) in truth.items():
    data, got_label, got_image = seen[rel]
    assert got_label == label
    assert data == open(os.path.join(root, rel), 'rb').read()
    if rel.endswith('.png'):
      np.testing.assert_array_equal(got_image, image)


def test_converted_size_ratio_on_realistic_images(tmp_path):
  # 128 px synthetic scenes saved as JPEG + RGB-id PNG, COCO layout: the
  # per-example proto overhead is small next to real image bytes.
  config = synthetic.SyntheticConfig(image_size=128)
  root = tmp_path / 'src'
  images, annotations = [], []
  for i in range(4):
    ex = synthetic.make_example(np.random.default_rng(i), config)
    dl_folders.save_jpeg(str(root / 'val2017' / f'{i}.jpg'), ex['image'])
    dl_folders.save_png(str(root / 'panoptic_val2017' / f'{i}.png'),
                        dl_folders.ids_to_rgb(ex['ids']))
    images.append({'id': i, 'file_name': f'{i}.jpg'})
    annotations.append({'image_id': i, 'file_name': f'{i}.png',
                        'segments_info': [
                            {'id': int(s), 'category_id': int(c),
                             'iscrowd': 0}
                            for s, c in zip(ex['segment_ids'],
                                            ex['class_ids'])]})
  categories = [{'id': c['id'], 'name': c['name'], 'isthing': c['isthing']}
                for c in synthetic.CLASSES]
  with open(root / 'panoptic_val2017.json', 'w') as f:
    json.dump({'images': images, 'annotations': annotations,
               'categories': categories}, f)
  report = _coco(str(root), str(tmp_path / 'out'))
  assert report.num_written == 4
  assert report.size_ratio <= 1.3, report.summary()


# ---- validation errors -------------------------------------------------------


def _coco_error(tmp_path, rng, corrupt):
  root = str(tmp_path / 'src')
  dl_folders.write_coco(root, rng)
  corrupt(root)
  out = str(tmp_path / 'out')
  with pytest.raises(driver.InvalidDatasetError) as info:
    _coco(root, out)
  assert not os.path.exists(out) or not os.listdir(out)  # nothing written
  return str(info.value)


def _edit_json(root, fn):
  path = os.path.join(root, 'panoptic_val2017.json')
  data = json.load(open(path))
  fn(data)
  json.dump(data, open(path, 'w'))


def test_error_missing_image(tmp_path, rng):
  msg = _coco_error(tmp_path, rng, lambda r: os.remove(
      os.path.join(r, 'val2017', '000000000001.jpg')))
  assert 'val2017/000000000001.jpg: file is missing' in msg
  assert '1 problem(s)' in msg


def test_error_unreadable_label(tmp_path, rng):
  def corrupt(root):
    with open(os.path.join(root, 'panoptic_val2017', '000000000002.png'),
              'wb') as f:
      f.write(b'\x89PNG\r\n\x1a\nnot really a png')
  msg = _coco_error(tmp_path, rng, corrupt)
  assert 'panoptic_val2017/000000000002.png: is not a readable image' in msg


def test_error_size_mismatch(tmp_path, rng):
  def corrupt(root):
    dl_folders.save_png(os.path.join(root, 'panoptic_val2017',
                                     '000000000000.png'),
                        dl_folders.ids_to_rgb(np.ones((16, 20))))
  msg = _coco_error(tmp_path, rng, corrupt)
  assert ('000000000000.png: label size 20x16 differs from the image size '
          '24x16') in msg


def test_error_segment_in_png_not_in_json(tmp_path, rng):
  def corrupt(root):
    _edit_json(root, lambda d: d['annotations'][1]['segments_info'].pop(
        [s['id'] for s in d['annotations'][1]['segments_info']].index(7002)))
  msg = _coco_error(tmp_path, rng, corrupt)
  assert ('000000000001.png: segment id(s) 7002 in the PNG but not in '
          'panoptic_val2017.json segments_info') in msg


def test_error_segment_in_json_not_in_png(tmp_path, rng):
  def corrupt(root):
    _edit_json(root, lambda d: d['annotations'][0]['segments_info'].append(
        {'id': 424242, 'category_id': 1, 'iscrowd': 0}))
  msg = _coco_error(tmp_path, rng, corrupt)
  assert ('000000000000.png: segment id(s) 424242 in panoptic_val2017.json '
          'segments_info but not in the PNG') in msg


def test_error_unknown_category(tmp_path, rng):
  def corrupt(root):
    def fn(d):
      d['annotations'][2]['segments_info'][0]['category_id'] = 999
    _edit_json(root, fn)
  msg = _coco_error(tmp_path, rng, corrupt)
  assert 'has category_id 999, not in the categories of' in msg


def test_error_annotation_without_image(tmp_path, rng):
  msg = _coco_error(tmp_path, rng, lambda r: _edit_json(
      r, lambda d: d['images'].pop(0)))
  assert "refers to image_id 0, which is not listed in \"images\"" in msg


def test_error_missing_json_names_file(tmp_path):
  with pytest.raises(ValueError, match='nope.json: panoptic JSON file is '
                     'missing'):
    coco_panoptic.convert_coco_panoptic('a', 'b', str(tmp_path / 'nope.json'),
                                        str(tmp_path / 'o'), **QUIET)


def test_generic_errors(tmp_path, rng):
  root = str(tmp_path / 'g')
  dl_folders.write_generic(root, rng)
  bad = np.full((20, 20), 7, np.uint8)  # class 7 is not in the list
  dl_folders.save_png(os.path.join(root, 'semantic', 'img0.png'), bad)
  os.remove(os.path.join(root, 'instance', 'img1.png'))
  dl_folders.save_png(os.path.join(root, 'instance', 'img2.png'),
                      np.zeros((20, 21), np.uint16))
  dl_folders.save_png(os.path.join(root, 'semantic', 'orphan.png'), bad)
  dl_folders.save_png(os.path.join(root, 'instance', 'stray.png'), bad)
  shutil.copy(os.path.join(root, 'images', 'img0.jpg'),
              os.path.join(root, 'images', 'img0.png'))
  with pytest.raises(driver.InvalidDatasetError) as info:
    generic_folder.convert_generic_folder(root, str(tmp_path / 'o'), **QUIET)
  msg = str(info.value)
  assert 'semantic/img0.png: class id(s) [7] not in the class list' in msg
  assert 'instance/img1.png: file is missing' in msg
  assert 'instance/img2.png: label size 21x20 differs' in msg
  assert 'semantic/orphan.png: has no image named orphan.*' in msg
  assert 'instance/stray.png: has no image named stray.*' in msg
  assert 'images/img0.png: has the name of img0.jpg' in msg
  assert '6 problem(s)' in msg
  with open(os.path.join(root, 'classes.json'), 'w') as f:
    json.dump([{'id': 1}, {'id': 1}], f)
  with pytest.raises(ValueError, match='classes.json: class id 1 appears '
                     'twice'):
    generic_folder.convert_generic_folder(root, str(tmp_path / 'o'), **QUIET)


def test_classification_errors(tmp_path, rng):
  root = str(tmp_path / 'c')
  dl_folders.write_classification(root, rng)
  with open(os.path.join(root, 'dog', '0.png'), 'wb') as f:
    f.write(b'garbage')
  os.makedirs(os.path.join(root, 'empty'))
  with pytest.raises(driver.InvalidDatasetError) as info:
    classification_folder.convert_classification_folder(
        root, str(tmp_path / 'o'), **QUIET)
  msg = str(info.value)
  assert 'dog/0.png: is not a readable image' in msg
  assert 'empty: class folder has no images' in msg


def test_skip_invalid_reports_and_skips(tmp_path, rng):
  root = str(tmp_path / 'src')
  dl_folders.write_coco(root, rng)
  os.remove(os.path.join(root, 'val2017', '000000000001.jpg'))
  _edit_json(root, lambda d: d['annotations'][2]['segments_info'].append(
      {'id': 5, 'category_id': 1, 'iscrowd': 0}))
  report = _coco(root, str(tmp_path / 'out'), skip_invalid=True)
  assert report.num_written == 1 and report.num_skipped == 2
  assert len(report.problems) == 2
  summary = report.summary()
  assert 'skipped 2 invalid' in summary and '000000000001.jpg' in summary
  assert sorted(dl_records.records(str(tmp_path / 'out'))) == ['000000000000.png']


def test_interrupted_shard_leaves_no_final_file(tmp_path):
  def serialize(item):
    if item == 3:
      raise KeyboardInterrupt
    return b'x'
  with pytest.raises(KeyboardInterrupt):
    shard_writer.write_shards(list(range(5)), serialize, str(tmp_path), 'val',
                              1, show_progress=False)
  assert os.listdir(tmp_path) == []


def test_rewrite_with_fewer_shards_removes_stale_ones(tmp_path):
  shard_writer.write_shards(list(range(6)), lambda i: b'%d' % i,
                            str(tmp_path), 'train', 3, show_progress=False)
  shard_writer.write_shards([1], lambda i: b'x', str(tmp_path), 'val', 1,
                            show_progress=False)
  paths = shard_writer.write_shards(list(range(6)), lambda i: b'%d' % i,
                                    str(tmp_path), 'train', 2,
                                    show_progress=False)
  assert sorted(os.listdir(tmp_path)) == sorted(
      [os.path.basename(p) for p in paths] + ['val-00000-of-00001.tfrecord'])
  assert [r.numpy() for r in tf.data.TFRecordDataset(paths[1])] == [
      b'1', b'3', b'5']
