"""Reads converted shards back for the converter tests, and checks decoded
panoptic labels against the id maps and segment tables a test wrote."""

import glob
import os

import numpy as np
import tensorflow as tf

from axial_deeplab_tf.data import schema
from axial_deeplab_tf.dataloaders import panoptic_decoder

# Converter keyword arguments of every test: no progress bars, 2 threads.
QUIET = {'show_progress': False, 'num_workers': 2}


def feature(example, key):
  """The values of one feature of a tf.train.Example, as a list."""
  f = example.features.feature[key]
  return list(f.bytes_list.value) or list(f.int64_list.value)


def records(output_dir, split='val'):
  """{source_id: (tf.train.Example, decoded dict)} of every shard; the
  decoded dict also has the example's segment ids under '_segment_ids'."""
  decoder = panoptic_decoder.PanopticDecoder()
  out = {}
  for path in sorted(glob.glob(os.path.join(output_dir, f'{split}-*'))):
    for record in tf.data.TFRecordDataset(path):
      example = tf.train.Example.FromString(record.numpy())
      decoded = {k: v.numpy() for k, v in decoder.decode(record).items()}
      decoded['_segment_ids'] = np.array(feature(example,
                                                 schema.SEGMENT_IDS))
      out[decoded['source_id'].decode()] = (example, decoded)
  return out


def check_panoptic(decoded, ids, segments, category_to_class):
  """Decoded labels equal the source id map and segment table exactly."""
  segment_ids = np.concatenate([[0], decoded['_segment_ids']])
  np.testing.assert_array_equal(segment_ids[decoded['segments']], ids)
  want_class = np.full(ids.shape, -1)
  want_crowd = np.zeros(ids.shape, bool)
  for s in segments:
    want_class[ids == s['id']] = category_to_class[s['category_id']]
    want_crowd[ids == s['id']] = bool(s['iscrowd'])
  classes = np.concatenate([[-1], decoded['class_ids']])
  crowd = np.concatenate([[False], decoded['is_crowd']])
  np.testing.assert_array_equal(classes[decoded['segments']], want_class)
  np.testing.assert_array_equal(crowd[decoded['segments']], want_crowd)
