"""TFDS elements -> the decoded dicts of `panoptic_decoder`.

coco/2017_panoptic elements hold 'image' uint8 [H, W, 3], 'image/filename',
'panoptic_image' uint8 [H, W, 3] (COCO RGB id encoding) and
'panoptic_objects' with 'id' int64 [N], 'label' int64 [N] (0..132, the
COCO panoptic category order: 80 things, then 53 stuff) and 'is_crowd'
bool [N]. They become the same dict our TFRecords decode to, with class id
= TFDS label and is_thing = label in the encoding's thing_class_ids (COCO:
0..79).

Classification builders ('imagenet2012', 'imagenette', ...) hold 'image'
and 'label' and become {'image' uint8 [H, W, 3], 'label' int32}.
"""

from typing import Callable, Dict

import tensorflow as tf

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.dataloaders import panoptic_decoder

PANOPTIC_BUILDERS = ('coco/2017_panoptic',)


def decode_coco_panoptic(element: Dict[str, tf.Tensor],
                         encoding: encoding_lib.PanopticEncoding
                         ) -> Dict[str, tf.Tensor]:
  """One coco/2017_panoptic element -> decoded dict (see module doc)."""
  objects = element['panoptic_objects']
  id_map = panoptic_decoder.rgb_to_segment_ids(element['panoptic_image'])
  labels = tf.cast(objects['label'], tf.int32)
  image = tf.cast(element['image'], tf.uint8)
  image.set_shape([None, None, 3])
  return {
      'image': image,
      'segments': panoptic_decoder.ids_to_segment_index(id_map,
                                                        objects['id']),
      'class_ids': labels,
      'is_crowd': tf.cast(objects['is_crowd'], tf.bool),
      'is_thing': tf.reduce_any(
          labels[:, None] == tf.constant(encoding.thing_class_ids,
                                         tf.int32)[None, :], axis=1),
      'source_id': element.get('image/filename', tf.constant('')),
  }


def panoptic_adapter(tfds_name: str,
                     encoding: encoding_lib.PanopticEncoding
                     ) -> Callable[[Dict[str, tf.Tensor]],
                                   Dict[str, tf.Tensor]]:
  """The element -> decoded dict function for a panoptic TFDS builder."""
  if not tfds_name.startswith('coco/') or 'panoptic' not in tfds_name:
    raise ValueError(f'tfds_name {tfds_name!r} is not a supported panoptic '
                     f'builder; expected one of {PANOPTIC_BUILDERS}')
  return lambda element: decode_coco_panoptic(element, encoding)


def classification_adapter(element: Dict[str, tf.Tensor]
                           ) -> Dict[str, tf.Tensor]:
  """A TFDS classification element -> {'image' uint8 [H, W, 3], 'label'}."""
  if 'image' not in element or 'label' not in element:
    raise ValueError('TFDS classification element needs "image" and "label" '
                     f'features; got {sorted(element)}')
  image = tf.cast(element['image'], tf.uint8)
  image.set_shape([None, None, 3])
  return {'image': image, 'label': tf.cast(element['label'], tf.int32)}
