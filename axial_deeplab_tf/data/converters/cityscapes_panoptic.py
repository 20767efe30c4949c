"""Cityscapes panoptic, as written by cityscapesscripts' createPanopticImgs.

Layout (image_dir = leftImg8bit/<split>, panoptic_dir =
gtFine/cityscapes_panoptic_<split>, json_path =
gtFine/cityscapes_panoptic_<split>.json, as cityscapesscripts writes them):
  <image_dir>/<city>/<image_id>_leftImg8bit.png
  <panoptic_dir>/<image_id>_gtFine_panoptic.png
An annotation's image is found from its image_id alone (the `images`
entries' file_name, `<image_id>_gtFine_leftImg8bit.png`, names no file);
the city is the image id up to its first underscore. The flat layout,
every image in <image_dir> itself (no city folders), is accepted too, as
are label PNGs in city folders under <panoptic_dir>; for each file the
documented place is tried first. Categories may use label ids or trainIds
(--use-train-id, the `_trainId.json` that deeplab2 reads); either way the
19 evaluated classes become 0..18 in trainId order (classes.json keeps the
JSON's ids). A JSON without `categories` needs categories_json (see
`panoptic_json`). Panoptic ids use label divisor 1000 (the Cityscapes
convention).
"""

import os
from typing import List, Optional

from axial_deeplab_tf.data.converters import driver
from axial_deeplab_tf.data.converters import panoptic_json

LABEL_DIVISOR = 1000
CATEGORIES_HINT = ('the cityscapes_panoptic_<split>.json that '
                   "cityscapesscripts' createPanopticImgs writes (any split; "
                   'with --use-train-id when the labels use trainIds)')


def cityscapes_layout(image_dir: str, panoptic_dir: str
                      ) -> panoptic_json.Layout:
  """Image and label paths of Cityscapes' layout (module docstring)."""

  def image_paths(image: Optional[dict], annotation: dict) -> List[str]:
    image_id = str((image or {}).get('id', annotation.get('image_id')))
    name = f'{image_id}_leftImg8bit.png'
    city = image_id.split('_')[0]
    return [os.path.join(image_dir, city, name),
            os.path.join(image_dir, name)]

  def label_paths(annotation: dict) -> List[str]:
    name = str(annotation.get('file_name', ''))
    city = str(annotation.get('image_id', name)).split('_')[0]
    return [os.path.join(panoptic_dir, name),
            os.path.join(panoptic_dir, city, name)]

  return panoptic_json.Layout(image_paths, label_paths, CATEGORIES_HINT)


def convert_cityscapes_panoptic(image_dir: str, panoptic_dir: str,
                                json_path: str, output_dir: str,
                                split: str = 'train',
                                categories_json: Optional[str] = None,
                                **convert_kwargs) -> driver.ConversionReport:
  """Converts one Cityscapes panoptic split (see `panoptic_json`)."""
  return panoptic_json.convert_panoptic_json(
      json_path, cityscapes_layout(image_dir, panoptic_dir), output_dir,
      split, 'cityscapes_panoptic', LABEL_DIVISOR,
      categories_json=categories_json, **convert_kwargs)
