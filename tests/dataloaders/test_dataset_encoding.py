"""The panoptic encoding: validation, metadata, the shared map reader and
the dataset-vs-config check, on hand-built values and folders."""

import json
import os

import numpy as np
import pytest

from axial_deeplab_tf.configs.panoptic import PanopticDataConfig
from axial_deeplab_tf.data.converters import shard_writer
from axial_deeplab_tf.data.encoding import check_matches
from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.data.encoding import split_panoptic
from axial_deeplab_tf.dataloaders import check_dataset_encoding

CLASSES = [{'id': 0, 'name': 'road', 'isthing': 0},
           {'id': 1, 'name': 'car', 'isthing': 1},
           {'id': 2, 'name': 'person', 'isthing': 1}]


def test_invalid_encodings_cannot_be_built():
  with pytest.raises(ValueError, match='thing_class_ids'):
    PanopticEncoding(3, [3], 256)
  with pytest.raises(ValueError, match='void_label'):
    PanopticEncoding(3, [1], 256, void_label=2)
  with pytest.raises(ValueError, match='label_divisor'):
    PanopticEncoding(3, [1], 0)
  with pytest.raises(TypeError):
    PanopticEncoding(3, [1])  # pylint: disable=no-value-for-parameter


def test_metadata_round_trip_and_class_list():
  encoding = PanopticEncoding.from_classes(CLASSES, label_divisor=1000)
  assert encoding == PanopticEncoding(3, (1, 2), 1000, 255)
  assert encoding.to_metadata() == {'num_classes': 3,
                                    'thing_class_ids': [1, 2],
                                    'label_divisor': 1000, 'void_label': 255}
  assert PanopticEncoding.from_metadata(encoding.to_metadata(),
                                        'x.json') == encoding
  with pytest.raises(ValueError, match=r"x.json: .*lacks \['label_divisor'"):
    PanopticEncoding.from_metadata({'num_classes': 3, 'thing_class_ids': [],
                                    'void_label': 255}, 'x.json')
  assert encoding.config_overrides().splitlines()[1:] == [
      '  task.model.num_classes=3', '  task.model.thing_class_ids=[1,2]',
      '  task.model.post_processing.label_divisor=1000',
      '  task.model.post_processing.void_label=255']


def test_check_matches_names_every_difference():
  data = PanopticEncoding(3, [1, 2], 1000)
  check_matches(data, PanopticEncoding(3, [2, 1], 1000), 'd')  # same set
  with pytest.raises(ValueError) as error:
    check_matches(data, PanopticEncoding(4, [1], 256), 'd/classes.json')
  assert str(error.value).splitlines() == [
      "d/classes.json: the dataset's panoptic encoding differs from the "
      "config's:",
      '  num_classes: dataset 3, config 4; set task.model.num_classes=3',
      '  thing_class_ids: dataset [1,2], config [1]; set '
      'task.model.thing_class_ids=[1,2]',
      '  label_divisor: dataset 1000, config 256; set '
      'task.model.post_processing.label_divisor=1000']


def test_split_panoptic_void_crowd_and_range():
  encoding = PanopticEncoding(3, [1, 2], 100)
  values = np.array([-1, 255 * 100, 0, 5, 100, 101, 200, 203])
  parsed = split_panoptic(values, encoding, 'gt')
  np.testing.assert_array_equal(parsed.void, [1, 1, 0, 0, 0, 0, 0, 0])
  # Crowd: a thing class (1 or 2) with instance 0; stuff class 0 is not.
  np.testing.assert_array_equal(parsed.crowd, [0, 0, 0, 0, 1, 0, 1, 0])
  np.testing.assert_array_equal(parsed.classes[2:], [0, 0, 1, 1, 2, 2])
  np.testing.assert_array_equal(parsed.instances[2:], [0, 5, 0, 1, 0, 3])
  assert not split_panoptic(values, encoding, 'gt', False).crowd.any()
  with pytest.raises(ValueError, match=r'pred: class ids .* \[3\]'):
    split_panoptic(np.array([300]), encoding, 'pred')


def _folder(path, encoding=None):
  os.makedirs(path)
  open(os.path.join(path, 'train-00000-of-00001.tfrecord'), 'wb').close()
  if encoding is not None:
    shard_writer.write_classes(path, CLASSES, encoding)
  return PanopticDataConfig(input_path=os.path.join(path, 'train-*'))


def test_dataset_check_on_hand_built_folders(tmp_path):
  config = PanopticEncoding(3, [1, 2], 1000)
  check_dataset_encoding(_folder(str(tmp_path / 'same'), config), config)
  other = _folder(str(tmp_path / 'other'), PanopticEncoding(2, [1], 1000))
  with pytest.raises(ValueError, match=r'other/classes.json(.|\n)*'
                     'num_classes: dataset 2, config 3'):
    check_dataset_encoding(other, config)
  # No classes.json, or one without "encoding" (older datasets): skipped.
  check_dataset_encoding(_folder(str(tmp_path / 'none')), config)
  legacy = _folder(str(tmp_path / 'legacy'))
  shard_writer.write_classes(str(tmp_path / 'legacy'), CLASSES)
  with open(tmp_path / 'legacy' / 'classes.json') as f:
    assert 'encoding' not in json.load(f)
  check_dataset_encoding(legacy, config)
  broken = str(tmp_path / 'broken')
  data = _folder(broken)
  with open(os.path.join(broken, 'classes.json'), 'w') as f:
    json.dump({'encoding': {'num_classes': 3, 'thing_class_ids': [5],
                            'label_divisor': 1000, 'void_label': 255}}, f)
  with pytest.raises(ValueError, match='broken/classes.json: invalid'):
    check_dataset_encoding(data, config)
