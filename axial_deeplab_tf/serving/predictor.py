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

An image that fails (unreadable, out of memory, any error) is reported
and skipped, the others are written, and panoptic.json is valid at every
moment (rewritten atomically as images finish, see `predict_files`).
Images larger than `max_image_size` are predicted resized (see
`size_limit`).
"""

import contextlib
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
from axial_deeplab_tf.serving import size_limit


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
  paths = _picture_paths(vis_dir, name)
  for path, picture in zip(paths, (overlay, center, offsets)):
    save_png(path, picture)
  return paths


def _picture_paths(vis_dir: str, name: str) -> List[str]:
  return [os.path.join(vis_dir, f'{name}_{suffix}.png')
          for suffix in ('overlay', 'center', 'offsets')]


class SkippedImage(Exception):
  """One image that could not be predicted; the message is the reason."""


def _failure_reason(error: BaseException, size) -> str:
  """One line saying why an image was skipped."""
  if isinstance(error, image_files.UnreadableImageError):
    return error.reason
  message = str(error).strip().split('\n', maxsplit=1)[0][:300]
  if isinstance(error, (tf.errors.ResourceExhaustedError, MemoryError)):
    where = f' at {size[0]}x{size[1]}' if size else ''
    return (f'out of memory{where} ({type(error).__name__}: {message}); a '
            f'smaller max_image_size may fit')
  return f'{type(error).__name__}: {message}'


def _predict_one(predictor, path: str, name: str, panoptic_dir: str,
                 vis_dir: str, palette: np.ndarray, category_map,
                 alpha: float, max_image_size: Optional[int], log):
  """Predicts one file and writes its PNG and pictures; returns its JSON
  annotation. Nothing is left on disk when it raises."""
  size = None
  png = os.path.join(panoptic_dir, f'{name}.png')
  try:
    image = image_files.read_image(path)
    height, width = image.shape[:2]
    size = size_limit.limited_size(height, width, max_image_size)
    annotation = {'image_id': name, 'file_name': f'{name}.png',
                  'source_file': path, 'height': int(height),
                  'width': int(width)}
    if size != (height, width):
      log(f'{path}: resized from {height}x{width} to {size[0]}x{size[1]} '
          f'(max_image_size {max_image_size}); outputs mapped back')
      annotation['predicted_size'] = list(size)
      outputs = size_limit.outputs_to_size(
          predictor(size_limit.resize_image(image, size)), height, width)
    else:
      outputs = predictor(image)
    ids, segments = coco_panoptic_format.segments_from_panoptic(
        outputs['panoptic'], predictor.encoding, category_map,
        outputs.get('instance_scores'))
    annotation['segments_info'] = segments
    coco_panoptic_format.write_id_png(png, ids)
    write_visualizations(vis_dir, name, image, outputs, palette, alpha)
    return annotation
  except Exception as e:  # pylint: disable=broad-except
    for done in [png] + _picture_paths(vis_dir, name):
      with contextlib.suppress(OSError):
        os.remove(done)
    raise SkippedImage(_failure_reason(e, size)) from e


def write_json_atomically(path: str, content: dict) -> None:
  """Writes `content` to a temporary file beside `path`, then renames it
  over `path` (`os.replace`, atomic): a process killed at any moment
  leaves the previous or the new file, never a partial one."""
  temporary = f'{path}.{os.getpid()}.tmp'
  with open(temporary, 'w') as f:
    json.dump(content, f, indent=1)
  os.replace(temporary, path)


def _due(done: int, saved: int) -> bool:
  """Whether panoptic.json is rewritten after `done` images when it lists
  `saved`: after every image for the first 20, then whenever 5% more are
  done, so the rewrites total about 20x the final file's size."""
  return done - saved >= max(1, saved // 20)


def predict_files(predictor, paths: Sequence[str], output_dir: str,
                  palette: np.ndarray,
                  category_map: Optional[Dict[int, int]] = None,
                  categories: Optional[List[dict]] = None,
                  alpha: float = 0.5,
                  max_image_size: Optional[int] = (
                      size_limit.DEFAULT_MAX_IMAGE_SIZE),
                  show_progress: bool = True, log=print) -> dict:
  """Predicts every file; writes PNGs, pictures and panoptic.json.

  An image that fails (unreadable file, out of memory, any other error)
  is reported through `log` with its reason, listed under "skipped" as
  {"source_file", "reason"}, and the run goes on. panoptic.json is
  rewritten atomically (`write_json_atomically`) after every image for
  the first 20, then whenever 5% more are done, and at the end, also when
  the run is interrupted (Ctrl-C, an exception): at any moment it is
  valid and lists only images whose files are complete. An image whose
  longest side exceeds `max_image_size` is predicted resized and mapped
  back (see `size_limit`); its annotation gets "predicted_size" [h, w].

  Args:
    predictor: callable uint8 [H, W, 3] -> output dict (see module doc),
      with its panoptic `.encoding`.
    paths: image files.
    output_dir: created if missing.
    palette: uint8 [K, 3] class colours.
    category_map: contiguous class id -> JSON category id.
    categories: COCO 'categories' list for the JSON.
    alpha: overlay colour weight.
    max_image_size: longest side the model is given (0 / None: any).
    show_progress: tqdm progress bar.
    log: where skipped and resized files are reported.

  Returns:
    The JSON dict written to output_dir/panoptic.json.
  """
  size_limit.limited_size(1, 1, max_image_size)  # checks the value
  encoding = predictor.encoding
  panoptic_dir = os.path.join(output_dir, 'panoptic')
  vis_dir = os.path.join(output_dir, 'vis')
  os.makedirs(panoptic_dir, exist_ok=True)
  os.makedirs(vis_dir, exist_ok=True)
  if categories is None:
    categories = [{'id': (category_map or {}).get(c, c), 'name': str(c),
                   'isthing': int(c in encoding.thing_class_ids)}
                  for c in range(encoding.num_classes)]
  result = {'annotations': [], 'categories': categories, 'skipped': []}
  json_path = os.path.join(output_dir, 'panoptic.json')
  names = unique_names(paths)
  saved = 0
  try:
    for done, (path, name) in enumerate(
        tqdm.tqdm(list(zip(paths, names)), desc='predict', unit='image',
                  disable=not show_progress), start=1):
      try:
        result['annotations'].append(_predict_one(
            predictor, path, name, panoptic_dir, vis_dir, palette,
            category_map, alpha, max_image_size, log))
      except SkippedImage as e:
        result['skipped'].append({'source_file': path, 'reason': str(e)})
        log(f'skipped {path}: {e}')
      if _due(done, saved):
        write_json_atomically(json_path, result)
        saved = done
  finally:
    write_json_atomically(json_path, result)
  return result
