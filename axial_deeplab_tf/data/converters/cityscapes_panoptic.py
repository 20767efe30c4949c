"""Cityscapes panoptic, as written by cityscapesscripts' createPanopticImgs.

Layout:
  <image_dir>/<city>/<image_id>_leftImg8bit.png        (leftImg8bit/<split>)
  <panoptic_dir>/<image_id>_gtFine_panoptic.png  (gtFine/cityscapes_panoptic_<split>)
  <json_path>                          (gtFine/cityscapes_panoptic_<split>.json)
The city is the image id up to its first underscore. Categories may use
label ids or trainIds (--use-train-id); either way the 19 evaluated classes
become 0..18 in trainId order (classes.json keeps the JSON's ids).
Panoptic ids use label divisor 1000 (the Cityscapes convention).
"""

import os

from axial_deeplab_tf.data.converters import driver
from axial_deeplab_tf.data.converters import panoptic_json

LABEL_DIVISOR = 1000


def cityscapes_image_path(image_dir: str, image: dict) -> str:
  """<image_dir>/<city>/<id>_leftImg8bit.png for a JSON image entry."""
  image_id = str(image['id'])
  city = image_id.split('_')[0]
  return os.path.join(image_dir, city, f'{image_id}_leftImg8bit.png')


def convert_cityscapes_panoptic(image_dir: str, panoptic_dir: str,
                                json_path: str, output_dir: str,
                                split: str = 'train',
                                **convert_kwargs) -> driver.ConversionReport:
  """Converts one Cityscapes panoptic split (see `panoptic_json`)."""
  return panoptic_json.convert_panoptic_json(
      json_path, panoptic_dir,
      lambda image: cityscapes_image_path(image_dir, image),
      output_dir, split, 'cityscapes_panoptic', LABEL_DIVISOR,
      **convert_kwargs)
