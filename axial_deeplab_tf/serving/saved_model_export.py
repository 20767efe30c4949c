"""Writes export modules as SavedModels in TF Serving's directory layout.

TF Serving watches a model base path and serves the highest numbered
sub-directory: `export_dir/<version>/{saved_model.pb, variables/}`.
`export_saved_model(module, export_dir)` writes the next free version
(1, 2, ...) or the one asked for, and never overwrites a finished version:
it writes to a temporary directory beside it and renames it when complete.
TensorFlow's INFO line listing every captured variable of each signature
as a renamed input (`Function \`serve\` contains input name(s) 19658,
19660, ... which will be renamed to ...`, one name per variable, ~300 for
the demo model) is left out of the log: those are not inputs a caller
gives, and the signatures' real input names are unchanged.
"""

import json
import logging
import os
import shutil
from typing import Optional, Sequence

import tensorflow as tf

DEFAULT_SIGNATURES = ('serving_default', 'image_bytes', 'tf_example')
# TF Serving ignores assets.extra/; predict.py reads the settings from it.
METADATA_FILE = os.path.join('assets.extra', 'axial_deeplab_export.json')


class _CapturedInputsLine(logging.Filter):
  """Drops TensorFlow's 'contains input name(s) ... will be renamed' record
  (tensorflow/python/saved_model/signature_serialization.py)."""

  def filter(self, record):
    return not str(record.msg).startswith('Function `%s` contains input '
                                          'name(s)')


def read_metadata(saved_model_dir: str) -> dict:
  """The export settings of a version directory ({} when absent)."""
  path = os.path.join(saved_model_dir, METADATA_FILE)
  if not tf.io.gfile.exists(path):
    return {}
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def resolve_version_dir(path: str) -> str:
  """A version directory as is; a base path -> its highest version."""
  if tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')):
    return path
  versions = [n.rstrip('/') for n in (tf.io.gfile.listdir(path)
                                      if tf.io.gfile.isdir(path) else [])]
  versions = sorted(int(n) for n in versions if n.isdigit())
  if not versions:
    raise ValueError(f'saved_model_dir: {path} holds neither saved_model.pb '
                     f'nor numbered version directories.')
  return os.path.join(path, str(versions[-1]))


def next_version(export_dir: str) -> int:
  """1 + the largest integer sub-directory name of export_dir (1 if none)."""
  if not tf.io.gfile.isdir(export_dir):
    return 1
  versions = [int(name.rstrip('/')) for name in tf.io.gfile.listdir(export_dir)
              if name.rstrip('/').isdigit()]
  return max(versions, default=0) + 1


def export_saved_model(module: tf.Module, export_dir: str,
                       version: Optional[int] = None,
                       signature_keys: Sequence[str] = DEFAULT_SIGNATURES,
                       batch_size: Optional[int] = None,
                       input_image_size: Optional[Sequence[int]] = None
                       ) -> str:
  """Saves `module` (with `.signatures(keys)`) as export_dir/<version>.

  Args:
    module: a `PanopticExportModule` or `ClassificationExportModule` (any
      tf.Module with a `signatures(keys)` method returning concrete
      functions).
    export_dir: the model base path; created if missing.
    version: positive int; None takes `next_version(export_dir)`.
    signature_keys: which signatures to write.
    batch_size: fixed batch size of the signatures (None: any).
    input_image_size: (height, width) fixed for serving_default (None: any).

  Returns:
    The path of the written version directory. When the module has
    `export_metadata()`, its dict is written to `METADATA_FILE` inside it,
    with 'checkpoint' (the module's `restored_checkpoint`: {'path',
    'step'} of the weights' checkpoint, or null), 'signatures',
    'batch_size' and 'input_image_size'.

  Raises:
    ValueError: `version` is not positive, or export_dir/<version> exists.
  """
  if version is None:
    version = next_version(export_dir)
  if int(version) < 1:
    raise ValueError(f'version: expected a positive int, got {version}.')
  path = os.path.join(export_dir, str(int(version)))
  if tf.io.gfile.exists(path):
    raise ValueError(f'export_dir: version directory {path} already exists; '
                     f'choose another --version or remove it.')
  tf.io.gfile.makedirs(export_dir)
  temporary = os.path.join(export_dir, f'.tmp-{int(version)}-{os.getpid()}')
  if tf.io.gfile.exists(temporary):
    tf.io.gfile.rmtree(temporary)
  signatures = module.signatures(tuple(signature_keys), batch_size,
                                 input_image_size)
  quiet = _CapturedInputsLine()
  logging.getLogger('absl').addFilter(quiet)
  try:
    tf.saved_model.save(module, temporary, signatures=signatures)
    if hasattr(module, 'export_metadata'):
      metadata = dict(module.export_metadata(),
                      checkpoint=getattr(module, 'restored_checkpoint', None),
                      signatures=list(signature_keys), batch_size=batch_size,
                      input_image_size=(list(input_image_size)
                                        if input_image_size else None))
      tf.io.gfile.makedirs(os.path.dirname(
          os.path.join(temporary, METADATA_FILE)))
      with tf.io.gfile.GFile(os.path.join(temporary, METADATA_FILE), 'w') as f:
        json.dump(metadata, f, indent=2)
    tf.io.gfile.rename(temporary, path)
  finally:
    logging.getLogger('absl').removeFilter(quiet)
    if tf.io.gfile.exists(temporary):
      shutil.rmtree(temporary, ignore_errors=True)
  return path
