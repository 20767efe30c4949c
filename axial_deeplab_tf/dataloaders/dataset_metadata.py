"""Checks that a dataset was written with the encoding a config expects.

TFRecord datasets carry their panoptic encoding in the `classes.json`
beside the shards (written by the converters and the synthetic writer; see
`converters.shard_writer`). `check_dataset_encoding` compares it with the
config's `PanopticEncoding` and raises one error naming every differing
value and the override to set. TFDS datasets carry no encoding: their
class count is compared with what the TFDS builder's label feature says,
the rest is skipped with a log line, as are folders without metadata.
"""

import json
import os
from typing import Optional

from absl import logging
from official.core import config_definitions as cfg
from official.core import input_reader
import tensorflow as tf
import tensorflow_datasets as tfds

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import schema

# TFDS panoptic builders: the feature path of the per-segment class label.
TFDS_LABEL_FEATURE = ('panoptic_objects', 'label')


def read_encoding(dataset_dir: str
                  ) -> Optional[encoding_lib.PanopticEncoding]:
  """The encoding recorded in `dataset_dir`/classes.json, or None when the
  file or its "encoding" entry is missing.

  Raises:
    encoding_lib.DatasetError: naming the file when it is unreadable or
      its encoding is invalid.
  """
  path = os.path.join(dataset_dir, schema.CLASSES_FILE)
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path) as f:
      metadata = json.load(f)
  except (OSError, ValueError) as e:
    raise encoding_lib.DatasetError(
        f'{path}: not a readable JSON file ({e})') from e
  if encoding_lib.ENCODING_KEY not in metadata:
    return None
  return encoding_lib.PanopticEncoding.from_metadata(
      metadata[encoding_lib.ENCODING_KEY], path)


def _check_files(params: cfg.DataConfig,
                 encoding: encoding_lib.PanopticEncoding) -> None:
  folders = sorted({os.path.dirname(f) for f in
                    input_reader.match_files(params.input_path)})
  for folder in folders:
    found = read_encoding(folder)
    source = os.path.join(folder, schema.CLASSES_FILE)
    if found is None:
      logging.info('%s records no panoptic encoding; the config is not '
                   'checked against this dataset.', source)
    else:
      encoding_lib.check_matches(found, encoding, source)


def _check_tfds(params: cfg.DataConfig,
                encoding: encoding_lib.PanopticEncoding) -> None:
  try:
    feature = tfds.builder(params.tfds_name,
                           data_dir=params.tfds_data_dir or None).info.features
    for key in TFDS_LABEL_FEATURE:
      feature = feature[key]
    num_classes = int(feature.num_classes)
  except (ValueError, KeyError, AttributeError, TypeError, OSError) as e:
    # Unknown builder, no such feature, or metadata out of reach.
    logging.info('tfds_name %r: no class count found (%s); the config is '
                 'not checked against this dataset.', params.tfds_name, e)
    return
  if num_classes != encoding.num_classes:
    key = encoding_lib.CONFIG_KEYS['num_classes']
    raise encoding_lib.DatasetError(
        f'tfds_name {params.tfds_name!r}: the dataset has {num_classes} '
        f'classes, the config {encoding.num_classes}; set '
        f'{key}={num_classes}.')
  logging.info('tfds_name %r: %d classes as configured; TFDS records no '
               'thing classes or label divisor to check.', params.tfds_name,
               num_classes)


def check_dataset_encoding(params: cfg.DataConfig,
                           encoding: encoding_lib.PanopticEncoding) -> None:
  """Raises `encoding_lib.DatasetError` when the data of `params` disagrees
  with `encoding` (or its metadata cannot be read).

  Args:
    params: a panoptic data config (input_path or tfds_name).
    encoding: the config's encoding (`PanopticModel.encoding()`).
  """
  if params.tfds_name:
    _check_tfds(params, encoding)
  elif params.input_path:
    _check_files(params, encoding)
