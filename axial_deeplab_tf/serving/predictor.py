"""Panoptic prediction over image files (the engine of trainer/predict.py).

A predictor maps one uint8 image [H, W, 3] to the export dict of numpy
arrays (see `PanopticExportModule.predict_dense`), either through a
SavedModel's `serving_default` signature (`SavedModelPredictor`) or an
in-process `PanopticExportModule` (`ModulePredictor`, for a checkpoint).
Both carry the export's settings (`metadata`) and its panoptic encoding
(`encoding`, read from the metadata by `encoding_from_metadata`).

`predict_files(predictor, paths, output_dir, ...)` writes, per image
`<name>` (the file's base name without extension, made unique):

    output_dir/panoptic/<name>.png        COCO panoptic id PNG
    output_dir/vis/<name>_overlay.png     semantic colours + instance outlines
    output_dir/vis/<name>_center.png      center heatmap over the image
    output_dir/vis/<name>_offsets.png     offset field as colour
    output_dir/panoptic.json              {"annotations", "categories",
                                           "skipped"}

and reports unreadable files (skipped) instead of stopping.
"""

import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
import tqdm

from axial_deeplab_tf import visualization
from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import schema
from axial_deeplab_tf.serving import coco_panoptic_format
from axial_deeplab_tf.serving import image_files
from axial_deeplab_tf.serving import saved_model_export


def encoding_from_metadata(metadata: dict) -> encoding_lib.PanopticEncoding:
  """The panoptic encoding recorded in a panoptic export's metadata.

  Raises:
    ValueError: naming `saved_model_dir` when a setting is missing.
  """
  try:
    options = metadata['post_processing']
    return encoding_lib.PanopticEncoding(
        num_classes=metadata['num_classes'],
        thing_class_ids=tuple(metadata['thing_class_ids']),
        label_divisor=options['label_divisor'],
        void_label=options['void_label'])
  except KeyError as e:
    settings = saved_model_export.METADATA_FILE
    raise ValueError(
        f'saved_model_dir: the export settings ({settings}) lack {e}; '
        f'export the model again with trainer/export_saved_model.py.'
    ) from None


class SavedModelPredictor:
  """Runs a SavedModel's `serving_default` signature on one image.

  Args:
    saved_model_dir: a version directory, or a base path (highest version).

  Raises:
    ValueError: naming `saved_model_dir` when it holds no SavedModel, no
      serving_default signature, or no panoptic export settings.
  """

  def __init__(self, saved_model_dir: str):
    self.path = saved_model_export.resolve_version_dir(saved_model_dir)
    self.metadata = saved_model_export.read_metadata(self.path)
    if self.metadata.get('task') != 'panoptic':
      raise ValueError(f'saved_model_dir: {self.path} is not a panoptic '
                       f'export (settings: {self.metadata or "none"}).')
    self.encoding = encoding_from_metadata(self.metadata)
    loaded = tf.saved_model.load(self.path)
    if 'serving_default' not in loaded.signatures:
      raise ValueError(f'saved_model_dir: {self.path} has no serving_default '
                       f'signature (found {sorted(loaded.signatures)}).')
    self._loaded = loaded
    self._fn = loaded.signatures['serving_default']

  def __call__(self, image: np.ndarray) -> Dict[str, np.ndarray]:
    out = self._fn(images=tf.constant(image[np.newaxis], tf.uint8))
    return {k: v.numpy()[0] for k, v in out.items()}


class ModulePredictor:
  """Runs an in-process `PanopticExportModule` on one image."""

  def __init__(self, module):
    self.module = module
    self.metadata = module.export_metadata()
    self.encoding = encoding_from_metadata(self.metadata)

  def __call__(self, image: np.ndarray) -> Dict[str, np.ndarray]:
    out = self.module.serve(tf.constant(image[np.newaxis], tf.uint8))
    return {k: v.numpy()[0] for k, v in out.items()}


def unique_names(paths: Sequence[str]) -> List[str]:
  """Base names without extension; repeats get '_2', '_3', ... appended."""
  names, used = [], set()
  for path in paths:
    stem = os.path.splitext(os.path.basename(path))[0] or 'image'
    name, index = stem, 1
    while name in used:
      index += 1
      name = f'{stem}_{index}'
    used.add(name)
    names.append(name)
  return names


def save_png(path: str, image: np.ndarray) -> None:
  with open(path, 'wb') as f:
    f.write(schema.encode_png(image))


def write_visualizations(vis_dir: str, name: str, image: np.ndarray,
                         outputs: Dict[str, np.ndarray], palette: np.ndarray,
                         alpha: float = 0.5) -> List[str]:
  """Writes the three pictures of one prediction; returns their paths."""
  overlay = visualization.panoptic_overlay(
      image, outputs['category'], outputs['instance'], palette, alpha=alpha)
  heat = visualization.heatmap_to_color(outputs['center_heatmap'])
  center = visualization.blend(image, heat, 0.6)
  offsets = visualization.offsets_to_color(outputs['center_offsets'])
  paths = []
  for suffix, picture in (('overlay', overlay), ('center', center),
                          ('offsets', offsets)):
    paths.append(os.path.join(vis_dir, f'{name}_{suffix}.png'))
    save_png(paths[-1], picture)
  return paths


def predict_files(predictor, paths: Sequence[str], output_dir: str,
                  palette: np.ndarray,
                  category_map: Optional[Dict[int, int]] = None,
                  categories: Optional[List[dict]] = None,
                  alpha: float = 0.5, show_progress: bool = True,
                  log=print) -> dict:
  """Predicts every file; writes PNGs, pictures and panoptic.json.

  Args:
    predictor: callable uint8 [H, W, 3] -> output dict (see module doc),
      with its panoptic `.encoding`.
    paths: image files.
    output_dir: created if missing.
    palette: uint8 [K, 3] class colours.
    category_map: contiguous class id -> JSON category id.
    categories: COCO 'categories' list for the JSON.
    alpha: overlay colour weight.
    show_progress: tqdm progress bar.
    log: where skipped files are reported.

  Returns:
    The JSON dict written to output_dir/panoptic.json.
  """
  encoding = predictor.encoding
  panoptic_dir = os.path.join(output_dir, 'panoptic')
  vis_dir = os.path.join(output_dir, 'vis')
  os.makedirs(panoptic_dir, exist_ok=True)
  os.makedirs(vis_dir, exist_ok=True)
  annotations, skipped = [], []
  names = unique_names(paths)
  for path, name in tqdm.tqdm(list(zip(paths, names)), desc='predict',
                              unit='image', disable=not show_progress):
    try:
      image = image_files.read_image(path)
    except image_files.UnreadableImageError as e:
      skipped.append(str(e))
      log(f'skipped {e}')
      continue
    outputs = predictor(image)
    ids, segments = coco_panoptic_format.segments_from_panoptic(
        outputs['panoptic'], encoding, category_map,
        outputs.get('instance_scores'))
    coco_panoptic_format.write_id_png(
        os.path.join(panoptic_dir, f'{name}.png'), ids)
    write_visualizations(vis_dir, name, image, outputs, palette, alpha)
    annotations.append({'image_id': name, 'file_name': f'{name}.png',
                        'source_file': path,
                        'height': int(image.shape[0]),
                        'width': int(image.shape[1]),
                        'segments_info': segments})
  if categories is None:
    categories = [{'id': (category_map or {}).get(c, c), 'name': str(c),
                   'isthing': int(c in encoding.thing_class_ids)}
                  for c in range(encoding.num_classes)]
  result = {'annotations': annotations, 'categories': categories,
            'skipped': skipped}
  with open(os.path.join(output_dir, 'panoptic.json'), 'w') as f:
    json.dump(result, f, indent=1)
  return result
