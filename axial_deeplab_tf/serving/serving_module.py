"""Base of the SavedModel export modules: their three signatures."""

from typing import Dict, Optional, Sequence

import tensorflow as tf

from axial_deeplab_tf.serving import preprocessing


class Untracked:
  """Holds an object without making it part of the SavedModel graph."""

  def __init__(self, value):
    self.value = value


def empty_outputs(spec: Dict[str, tf.TensorSpec]) -> Dict[str, tf.Tensor]:
  """Zeros of each spec's dtype and shape, unknown dimensions (the batch,
  the sizes of an empty call) 0: what a signature returns for 0 inputs."""
  return {key: tf.zeros([0 if d is None else d for d in s.shape.as_list()],
                        s.dtype)
          for key, s in spec.items()}


class ServingModule(tf.Module):
  """A `tf.Module` whose subclasses define `serve` (uint8 images),
  `serve_image_bytes` (encoded images) and `serve_tf_example` (serialized
  tf.Examples) as `tf.function`s; `signatures` traces them.

  `restored_checkpoint` ({'path', 'step'} or None) is set by whoever
  restored the weights; the SavedModel export writes it to its metadata.
  """

  @staticmethod
  def unless_empty(inputs: tf.Tensor, run, spec: Dict[str, tf.TensorSpec]
                   ) -> Dict[str, tf.Tensor]:
    """`run()` when `inputs` has elements, else `empty_outputs(spec)`.

    The string signatures decode with `tf.map_fn`, which cannot stack
    zero results of unknown shape; an empty request is answered here.
    """
    return tf.cond(tf.size(inputs) > 0, run, lambda: empty_outputs(spec))

  @property
  def restored_checkpoint(self) -> Optional[Dict]:
    """{'path': checkpoint prefix, 'step': training step or None}, or None
    when the weights were not restored from a checkpoint."""
    holder = getattr(self, '_restored_checkpoint', None)
    return None if holder is None else holder.value

  @restored_checkpoint.setter
  def restored_checkpoint(self, value: Optional[Dict]) -> None:
    self._restored_checkpoint = Untracked(value)

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
