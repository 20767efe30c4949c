"""Decodes panoptic tf.Examples (see `schema`) into the common decoded dict.

Every panoptic source (our TFRecords, TFDS `coco/2017_panoptic`) decodes to
the same dict, which the parsers consume:

  image:     uint8 [H, W, 3].
  segments:  int32 [H, W]; 0 is void, k >= 1 is segment k - 1 of the
             per-segment lists below (ids absent from the lists are void).
  class_ids: int32 [N]; contiguous class id of each segment.
  is_crowd:  bool [N].
  is_thing:  bool [N].
  source_id: string scalar.
"""

from typing import Dict

import tensorflow as tf

from axial_deeplab_tf.data import schema


def rgb_to_segment_ids(rgb: tf.Tensor) -> tf.Tensor:
  """uint8 RGB [H, W, 3] -> int32 ids [H, W], id = R + 256 G + 65536 B."""
  rgb = tf.cast(rgb, tf.int32)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def ids_to_segment_index(id_map: tf.Tensor, segment_ids: tf.Tensor
                         ) -> tf.Tensor:
  """Maps raw segment ids to 1-based positions in `segment_ids`.

  Args:
    id_map: int [H, W] raw segment ids.
    segment_ids: int [N] ids listed for the image.

  Returns:
    int32 [H, W]: k + 1 where id_map == segment_ids[k], 0 where the id is 0
    or not listed.
  """
  id_map = tf.cast(id_map, tf.int64)
  segment_ids = tf.cast(segment_ids, tf.int64)
  order = tf.argsort(segment_ids)
  # A sentinel -1 after the sorted ids: ids are >= 0, so it never matches.
  sorted_ids = tf.concat([tf.gather(segment_ids, order),
                          tf.constant([-1], tf.int64)], 0)
  order = tf.concat([order, tf.constant([-1], tf.int32)], 0)
  flat = tf.reshape(id_map, [-1])
  pos = tf.searchsorted(sorted_ids[:-1], flat, side='left')  # in [0, N]
  found = tf.logical_and(tf.equal(tf.gather(sorted_ids, pos), flat),
                         tf.not_equal(flat, 0))
  index = tf.where(found, tf.gather(order, pos) + 1, 0)
  return tf.reshape(tf.cast(index, tf.int32), tf.shape(id_map))


class PanopticDecoder:
  """Decodes serialized panoptic tf.Examples into the common decoded dict."""

  def __init__(self):
    self._features = {
        schema.IMAGE_ENCODED: tf.io.FixedLenFeature((), tf.string),
        schema.SOURCE_ID: tf.io.FixedLenFeature((), tf.string, ''),
        schema.PANOPTIC_ENCODED: tf.io.FixedLenFeature((), tf.string),
        schema.SEGMENT_IDS: tf.io.VarLenFeature(tf.int64),
        schema.CLASS_IDS: tf.io.VarLenFeature(tf.int64),
        schema.IS_CROWD: tf.io.VarLenFeature(tf.int64),
        schema.IS_THING: tf.io.VarLenFeature(tf.int64),
    }

  def decode(self, serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
    """serialized: string scalar -> decoded dict (module docstring)."""
    parsed = tf.io.parse_single_example(serialized, self._features)
    dense = {k: tf.sparse.to_dense(v) for k, v in parsed.items()
             if isinstance(v, tf.sparse.SparseTensor)}
    image = tf.io.decode_image(parsed[schema.IMAGE_ENCODED], channels=3,
                               expand_animations=False)
    image.set_shape([None, None, 3])
    rgb = tf.io.decode_png(parsed[schema.PANOPTIC_ENCODED], channels=3)
    id_map = rgb_to_segment_ids(rgb)
    check = tf.debugging.assert_equal(
        tf.shape(image)[:2], tf.shape(id_map)[:2],
        message=(f'{schema.IMAGE_ENCODED} and {schema.PANOPTIC_ENCODED} '
                 'sizes differ in a tf.Example'))
    with tf.control_dependencies([check]):
      id_map = tf.identity(id_map)
    segments = ids_to_segment_index(id_map, dense[schema.SEGMENT_IDS])
    return {
        'image': image,
        'segments': segments,
        'class_ids': tf.cast(dense[schema.CLASS_IDS], tf.int32),
        'is_crowd': tf.cast(dense[schema.IS_CROWD], tf.bool),
        'is_thing': tf.cast(dense[schema.IS_THING], tf.bool),
        'source_id': parsed[schema.SOURCE_ID],
    }


class ClassificationDecoder:
  """Decodes classification tf.Examples: {'image' uint8 [H,W,3], 'label'}."""

  def __init__(self):
    self._features = {
        schema.IMAGE_ENCODED: tf.io.FixedLenFeature((), tf.string),
        schema.CLASS_LABEL: tf.io.FixedLenFeature((), tf.int64),
    }

  def decode(self, serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
    parsed = tf.io.parse_single_example(serialized, self._features)
    image = tf.io.decode_image(parsed[schema.IMAGE_ENCODED], channels=3,
                               expand_animations=False)
    image.set_shape([None, None, 3])
    return {'image': image,
            'label': tf.cast(parsed[schema.CLASS_LABEL], tf.int32)}
