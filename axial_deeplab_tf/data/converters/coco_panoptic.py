"""COCO panoptic (images folder, panoptic PNG folder, panoptic JSON).

Layout (COCO 2017):
  <image_dir>/000000000139.jpg                    (e.g. val2017/)
  <panoptic_dir>/000000000139.png                 (panoptic_val2017/)
  <json_path>                                     (panoptic_val2017.json)
Image paths are <image_dir>/<images[i].file_name>. 133 classes: ids sorted
(80 things, then 53 stuff) become 0..132. Panoptic ids use label divisor
256 (the COCO convention of Panoptic-DeepLab).
"""

import os

from axial_deeplab_tf.data.converters import driver
from axial_deeplab_tf.data.converters import panoptic_json

LABEL_DIVISOR = 256


def convert_coco_panoptic(image_dir: str, panoptic_dir: str, json_path: str,
                          output_dir: str, split: str = 'train',
                          **convert_kwargs) -> driver.ConversionReport:
  """Converts one COCO panoptic split (see `panoptic_json`)."""
  return panoptic_json.convert_panoptic_json(
      json_path, panoptic_dir,
      lambda image: os.path.join(image_dir, image['file_name']),
      output_dir, split, 'coco_panoptic', LABEL_DIVISOR, **convert_kwargs)
