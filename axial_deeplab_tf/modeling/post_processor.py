"""tf_keras layer over `ops.panoptic_merge.panoptic_postprocess`."""

import dataclasses
from typing import Dict

import tensorflow as tf
import tf_keras

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.ops import panoptic_merge
from axial_deeplab_tf.ops import post_processing_options as options_lib

INPUT_KEYS = ('semantic_logits', 'center_heatmap', 'center_offsets')


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class PanopticPostProcessor(tf_keras.layers.Layer):
  """Turns model outputs into panoptic, semantic and instance predictions.

  Stateless (no weights). Runs in float32 whatever the global policy, so a
  mixed-precision model's float16 heads are not degraded further.

  Args:
    encoding: the panoptic id encoding (classes, thing classes, label
      divisor, void label); its label_divisor must exceed `options.top_k`.
    options: center selection and stuff filtering thresholds.
    output_instance_masks: whether outputs include 'instance_masks'
      [batch, top_k, height, width].

  Raises:
    TypeError: naming `encoding` or `options` when it is not of its type.
    ValueError: naming `label_divisor` when it is not larger than top_k.
  """

  def __init__(self,
               encoding: encoding_lib.PanopticEncoding,
               options: options_lib.PostProcessingOptions = (
                   options_lib.PostProcessingOptions()),
               output_instance_masks: bool = True,
               **kwargs):
    kwargs.setdefault('dtype', 'float32')
    super().__init__(**kwargs)
    for name, value, kind in (
        ('encoding', encoding, encoding_lib.PanopticEncoding),
        ('options', options, options_lib.PostProcessingOptions)):
      if not isinstance(value, kind):
        raise TypeError(f'{name}: expected a {kind.__name__}, got '
                        f'{type(value).__name__} {value!r}.')
    options.check_encoding(encoding)
    self.encoding = encoding
    self.options = options
    self.output_instance_masks = bool(output_instance_masks)

  def call(self, inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Post-processes one batch.

    Args:
      inputs: dict with 'semantic_logits' [batch, height, width, K],
        'center_heatmap' [batch, height, width, 1] and 'center_offsets'
        [batch, height, width, 2] (the model's outputs).

    Returns:
      The dict of `panoptic_postprocess`: 'panoptic', 'semantic',
      'category', 'instance' [batch, height, width]; 'instance_classes',
      'instance_scores', 'instance_valid' [batch, top_k]; 'center_points'
      [batch, top_k, 2]; 'center_scores' [batch, top_k]; optionally
      'instance_masks' [batch, top_k, height, width].
    """
    missing = [k for k in INPUT_KEYS if k not in inputs]
    if missing:
      raise ValueError(f'inputs: missing keys {missing} (a semantic-only '
                       f'model cannot be post-processed into instances).')
    return panoptic_merge.panoptic_postprocess(
        *[inputs[k] for k in INPUT_KEYS], encoding=self.encoding,
        options=self.options,
        output_instance_masks=self.output_instance_masks)

  def get_config(self) -> dict:
    config = super().get_config()
    encoding = dataclasses.asdict(self.encoding)
    encoding['thing_class_ids'] = list(encoding['thing_class_ids'])
    config.update({
        'encoding': encoding,
        'options': dataclasses.asdict(self.options),
        'output_instance_masks': self.output_instance_masks,
    })
    return config

  @classmethod
  def from_config(cls, config: dict) -> 'PanopticPostProcessor':
    config = dict(config)
    config['encoding'] = encoding_lib.PanopticEncoding(**config['encoding'])
    config['options'] = options_lib.PostProcessingOptions(
        **config['options'])
    return cls(**config)
