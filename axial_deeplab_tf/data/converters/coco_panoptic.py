"""COCO panoptic (images folder, panoptic PNG folder, panoptic JSON).

Layout (COCO 2017):
  <image_dir>/000000000139.jpg                    (e.g. val2017/)
  <panoptic_dir>/000000000139.png                 (panoptic_val2017/)
  <json_path>                                     (panoptic_val2017.json)
An annotation's image is <image_dir>/<file_name> of its `images` entry
(same image_id); its label PNG is <panoptic_dir>/<annotation file_name>.
A JSON without `images` (deeplab2 reads only `annotations`) pairs files by
name instead: the image is the file of <image_dir> with the label PNG's
stem and a .jpg, .jpeg or .png extension. A JSON without `categories`
needs categories_json (see `panoptic_json`). 133 classes: ids sorted
(80 things, then 53 stuff) become 0..132. Panoptic ids use label divisor
256 (the COCO convention of Panoptic-DeepLab).
"""

import os
from typing import List, Optional

from axial_deeplab_tf.data.converters import driver
from axial_deeplab_tf.data.converters import panoptic_json

LABEL_DIVISOR = 256
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
CATEGORIES_HINT = ("the official panoptic_val2017.json, or panopticapi's "
                   'panoptic_coco_categories.json')


def coco_layout(image_dir: str, panoptic_dir: str) -> panoptic_json.Layout:
  """Image and label paths of COCO's layout (module docstring)."""

  def image_paths(image: Optional[dict], annotation: dict) -> List[str]:
    if image is not None:
      return [os.path.join(image_dir, str(image.get('file_name', '')))]
    stem = os.path.splitext(str(annotation.get('file_name', '')))[0]
    return [os.path.join(image_dir, stem + ext) for ext in IMAGE_EXTENSIONS]

  def label_paths(annotation: dict) -> List[str]:
    return [os.path.join(panoptic_dir, str(annotation.get('file_name', '')))]

  return panoptic_json.Layout(image_paths, label_paths, CATEGORIES_HINT)


def convert_coco_panoptic(image_dir: str, panoptic_dir: str, json_path: str,
                          output_dir: str, split: str = 'train',
                          categories_json: Optional[str] = None,
                          **convert_kwargs) -> driver.ConversionReport:
  """Converts one COCO panoptic split (see `panoptic_json`)."""
  return panoptic_json.convert_panoptic_json(
      json_path, coco_layout(image_dir, panoptic_dir), output_dir, split,
      'coco_panoptic', LABEL_DIVISOR, categories_json=categories_json,
      **convert_kwargs)
