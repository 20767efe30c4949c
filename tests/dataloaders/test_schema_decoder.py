"""tf.Example schema round trips through PanopticDecoder."""

import io

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from axial_deeplab_tf.dataloaders import panoptic_decoder
from axial_deeplab_tf.data import schema


def _jpeg(image):
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format='JPEG', quality=95)
  return buf.getvalue()


def test_rgb_id_encoding_round_trip(rng):
  ids = rng.integers(0, 2**24, size=(5, 7))
  rgb = schema.ids_to_rgb(ids)
  assert rgb.dtype == np.uint8
  np.testing.assert_array_equal(schema.rgb_to_ids(rgb), ids)
  # Independent formula: id = R + 256 G + 256^2 B.
  r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
  np.testing.assert_array_equal(r + 256 * g + 65536 * b, ids)
  with pytest.raises(ValueError, match='2\\*\\*24'):
    schema.ids_to_rgb(np.array([[2**24]]))


def test_panoptic_example_decodes_to_segment_index(rng):
  h, w = 12, 20
  image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
  ids = np.zeros((h, w), np.int64)
  ids[:, :10] = 2**24 - 1
  ids[3:6, 12:18] = 70000
  ids[8:, 12:] = 5       # not listed -> void
  ids[0, 0] = 0          # void
  segment_ids = [70000, 2**24 - 1, 123]  # 123 is listed but absent
  example = schema.make_panoptic_example(
      schema.encode_png(image), h, w, schema.encode_png(schema.ids_to_rgb(ids)),
      segment_ids, [4, 1, 2], [1, 0, 0], [1, 0, 1], source_id='a/b.png')
  decoded = panoptic_decoder.PanopticDecoder().decode(
      tf.constant(example.SerializeToString()))
  np.testing.assert_array_equal(decoded['image'].numpy(), image)
  expected = np.zeros((h, w), np.int32)
  expected[ids == 70000] = 1
  expected[ids == 2**24 - 1] = 2
  np.testing.assert_array_equal(decoded['segments'].numpy(), expected)
  np.testing.assert_array_equal(decoded['class_ids'].numpy(), [4, 1, 2])
  np.testing.assert_array_equal(decoded['is_crowd'].numpy(), [True, False, False])
  np.testing.assert_array_equal(decoded['is_thing'].numpy(), [True, False, True])
  assert decoded['source_id'].numpy() == b'a/b.png'


def test_jpeg_image_and_empty_segment_list(rng):
  image = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
  example = schema.make_panoptic_example(
      _jpeg(image), 8, 9,
      schema.encode_png(schema.ids_to_rgb(np.full((8, 9), 3))), [], [], [], [])
  assert example.features.feature[schema.IMAGE_FORMAT].bytes_list.value == [b'jpeg']
  decoded = panoptic_decoder.PanopticDecoder().decode(
      tf.constant(example.SerializeToString()))
  assert decoded['image'].shape == (8, 9, 3)
  assert not decoded['segments'].numpy().any()


def test_schema_errors_name_the_problem():
  png = schema.encode_png(np.zeros((2, 2, 3), np.uint8))
  with pytest.raises(ValueError, match="class_ids has 1 entries.*'s1'"):
    schema.make_panoptic_example(png, 2, 2, png, [1, 2], [0], [0, 0], [0, 0],
                                 source_id='s1')
  with pytest.raises(ValueError, match='reserved for void'):
    schema.make_panoptic_example(png, 2, 2, png, [0], [0], [0], [0])
  with pytest.raises(ValueError, match='neither PNG nor JPEG'):
    schema.sniff_format(b'GIF89a....')


def test_classification_example_round_trip(rng):
  image = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
  example = schema.make_classification_example(
      schema.encode_png(image), 7, text='cat')
  decoded = panoptic_decoder.ClassificationDecoder().decode(
      tf.constant(example.SerializeToString()))
  np.testing.assert_array_equal(decoded['image'].numpy(), image)
  assert int(decoded['label']) == 7


def test_decoder_rejects_label_of_another_size():
  example = schema.make_panoptic_example(
      schema.encode_png(np.zeros((4, 5, 3), np.uint8)), 4, 5,
      schema.encode_png(np.zeros((4, 6, 3), np.uint8)), [], [], [], [])
  decode = tf.function(panoptic_decoder.PanopticDecoder().decode)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='image/panoptic/encoded sizes differ'):
    decode(tf.constant(example.SerializeToString()))
