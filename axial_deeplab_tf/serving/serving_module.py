"""Base of the SavedModel export modules: their three signatures."""

from typing import Optional, Sequence

import tensorflow as tf

from axial_deeplab_tf.serving import preprocessing


class Untracked:
  """Holds an object without making it part of the SavedModel graph."""

  def __init__(self, value):
    self.value = value


class ServingModule(tf.Module):
  """A `tf.Module` whose subclasses define `serve` (uint8 images),
  `serve_image_bytes` (encoded images) and `serve_tf_example` (serialized
  tf.Examples) as `tf.function`s; `signatures` traces them."""

  def signatures(self, keys: Sequence[str] = ('serving_default',
                                              'image_bytes', 'tf_example'),
                 batch_size: Optional[int] = None,
                 input_image_size: Optional[Sequence[int]] = None):
    """Concrete functions keyed by signature name, for tf.saved_model.save.

    Args:
      keys: signature names to build.
      batch_size: fixed batch of every signature (None: any).
      input_image_size: (height, width) fixed for 'serving_default' (None:
        any size).
    """
    functions = {'serving_default': self.serve,
                 'image_bytes': self.serve_image_bytes,
                 'tf_example': self.serve_tf_example}
    unknown = [k for k in keys if k not in functions]
    if unknown:
      raise ValueError(f'signatures: unknown keys {unknown}; expected some '
                       f'of {sorted(functions)}.')
    if input_image_size is not None and len(input_image_size) != 2:
      raise ValueError(f'input_image_size: expected (height, width), got '
                       f'{input_image_size}.')
    specs = preprocessing.input_specs(batch_size, input_image_size)
    return {k: functions[k].get_concrete_function(specs[k]) for k in keys}
