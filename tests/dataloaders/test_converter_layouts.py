"""Converter inputs beyond the documented layouts: deeplab2-style JSONs
with only "annotations", Cityscapes without city folders, the splits of
one dataset converted by separate runs into one folder, and images with
more instances than the label divisor allows."""

import json
import os

import pytest

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data.converters import cityscapes_panoptic
from axial_deeplab_tf.data.converters import coco_panoptic
from axial_deeplab_tf.data.converters import driver
from axial_deeplab_tf.data.converters import generic_folder
from axial_deeplab_tf.data.converters import panoptic_json
import dl_folders
import dl_records

QUIET = dl_records.QUIET


def _keep_only_annotations(json_path):
  """Rewrites a panoptic JSON as deeplab2 reads it; returns its categories."""
  with open(json_path) as f:
    data = json.load(f)
  with open(json_path, 'w') as f:
    json.dump({'annotations': data['annotations']}, f)
  return data['categories']


def test_coco_json_with_only_annotations(tmp_path, rng):
  root = str(tmp_path / 'src')
  truth = dl_folders.write_coco(root, rng)
  categories = _keep_only_annotations(
      os.path.join(root, 'panoptic_val2017.json'))
  args = (os.path.join(root, 'val2017'),
          os.path.join(root, 'panoptic_val2017'),
          os.path.join(root, 'panoptic_val2017.json'),
          str(tmp_path / 'out'))
  with pytest.raises(encoding_lib.DatasetError) as info:
    coco_panoptic.convert_coco_panoptic(*args, split='val', **QUIET)
  message = str(info.value)
  assert 'panoptic_val2017.json: no "categories" list' in message
  assert '--categories_json=' in message
  assert 'panoptic_coco_categories.json' in message
  assert not os.path.exists(tmp_path / 'out')
  # panopticapi's categories file is the bare list.
  categories_json = str(tmp_path / 'panoptic_coco_categories.json')
  with open(categories_json, 'w') as f:
    json.dump(categories, f)
  report = coco_panoptic.convert_coco_panoptic(
      *args, split='val', categories_json=categories_json, **QUIET)
  assert report.num_written == 3 and not report.problems
  records = dl_records.records(str(tmp_path / 'out'))
  # Images found by the label's stem, whatever their extension.
  assert sorted(records) == sorted(truth)
  for name, (_, ids, segments) in truth.items():
    dl_records.check_panoptic(records[name][1], ids, segments,
                              {1: 0, 3: 1, 92: 2, 200: 3})


@pytest.mark.parametrize('only_annotations', [False, True])
def test_cityscapes_flat_layout(tmp_path, rng, only_annotations):
  root = str(tmp_path / 'cs')
  truth = dl_folders.write_cityscapes(root, rng)
  image_dir = os.path.join(root, 'leftImg8bit', 'val')
  panoptic_dir = os.path.join(root, 'gtFine', 'cityscapes_panoptic_val')
  json_path = os.path.join(root, 'gtFine', 'cityscapes_panoptic_val.json')
  for city in ('aachen', 'bonn'):  # images: all in one folder
    for name in os.listdir(os.path.join(image_dir, city)):
      os.rename(os.path.join(image_dir, city, name),
                os.path.join(image_dir, name))
    os.rmdir(os.path.join(image_dir, city))
  for name in os.listdir(panoptic_dir):  # labels: in city folders
    os.makedirs(os.path.join(panoptic_dir, name.split('_')[0]),
                exist_ok=True)
    os.rename(os.path.join(panoptic_dir, name),
              os.path.join(panoptic_dir, name.split('_')[0], name))
  kwargs = dict(QUIET, split='val')
  if only_annotations:
    kwargs['categories_json'] = str(tmp_path / 'categories.json')
    with open(kwargs['categories_json'], 'w') as f:
      json.dump({'categories': _keep_only_annotations(json_path)}, f)
  report = cityscapes_panoptic.convert_cityscapes_panoptic(
      image_dir, panoptic_dir, json_path, str(tmp_path / 'out'), **kwargs)
  assert report.num_written == 3
  records = dl_records.records(str(tmp_path / 'out'))
  assert sorted(records) == sorted(truth)
  for name, (_, ids, segments) in truth.items():
    dl_records.check_panoptic(records[name][1], ids, segments,
                              {0: 0, 2: 1, 11: 2, 13: 3})
  # A missing image names every place looked at.
  os.remove(os.path.join(image_dir, 'bonn_000000_000001_leftImg8bit.png'))
  with pytest.raises(driver.InvalidDatasetError) as info:
    cityscapes_panoptic.convert_cityscapes_panoptic(
        image_dir, panoptic_dir, json_path, str(tmp_path / 'out2'), **kwargs)
  assert (f'{image_dir}/bonn/bonn_000000_000001_leftImg8bit.png: file is '
          f'missing (nor is it at {image_dir}/bonn_000000_000001_'
          'leftImg8bit.png)') in str(info.value)


def test_splits_by_separate_runs_share_one_classes_json(tmp_path, rng):
  out = str(tmp_path / 'out')
  for split in ('train', 'val'):
    dl_folders.write_generic(str(tmp_path / split), rng)
    generic_folder.convert_generic_folder(str(tmp_path / split), out,
                                          split=split, **QUIET)
  with open(os.path.join(out, 'classes.json')) as f:
    metadata = json.load(f)
  assert [c['source_id'] for c in metadata['classes']] == [0, 4, 9]
  written = sorted(os.listdir(out))
  assert written == ['classes.json'] + [
      f'{s}-0000{i}-of-00003.tfrecord' for s in ('train', 'val')
      for i in range(3)]
  # A split with another class list stops before writing anything.
  other = str(tmp_path / 'other')
  dl_folders.write_generic(other, rng)
  with open(os.path.join(other, 'classes.json'), 'w') as f:
    json.dump(dl_folders.GENERIC_CLASSES + [{'id': 12, 'name': 'rock'}], f)
  with pytest.raises(encoding_lib.DatasetError) as info:
    generic_folder.convert_generic_folder(other, out, split='test', **QUIET)
  assert ('out/classes.json: left by an earlier conversion (e.g. of another '
          'split) with other classes: 3 classes there, 4 here') in str(
              info.value)
  assert sorted(os.listdir(out)) == written


def test_more_instances_than_the_label_divisor_allows(tmp_path, rng):
  # dl_folders: every generic image has 2 tree instances (plus a crowd
  # region); COCO image 1 has 2 persons, images 0 and 2 one (cars: crowd).
  generic = str(tmp_path / 'g')
  dl_folders.write_generic(generic, rng)
  report = generic_folder.convert_generic_folder(
      generic, str(tmp_path / 'ok'), label_divisor=3, **QUIET)
  assert report.num_written == 3
  with pytest.raises(driver.InvalidDatasetError) as info:
    generic_folder.convert_generic_folder(
        generic, str(tmp_path / 'o1'), label_divisor=2, **QUIET)
  for i in range(3):
    assert (f'instance/img{i}.png: 2 instances in one image; the label '
            'divisor 2 allows at most 1') in str(info.value)
  coco = str(tmp_path / 'c')
  dl_folders.write_coco(coco, rng)
  with pytest.raises(driver.InvalidDatasetError) as info:
    panoptic_json.convert_panoptic_json(
        os.path.join(coco, 'panoptic_val2017.json'),
        coco_panoptic.coco_layout(os.path.join(coco, 'val2017'),
                                  os.path.join(coco, 'panoptic_val2017')),
        str(tmp_path / 'o2'), 'val', 'coco_panoptic', 2, **QUIET)
  assert str(info.value).startswith('1 problem(s)')
  assert ('panoptic_val2017/000000000001.png: 2 instances in one image; the '
          'label divisor 2 allows at most 1') in str(info.value)
