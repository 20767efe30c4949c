"""tf_keras layer over `ops.panoptic_postprocessing.panoptic_postprocess`."""

from typing import Dict, Sequence

import tensorflow as tf
import tf_keras

from axial_deeplab_tf.ops import panoptic_postprocessing as pp_ops


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class PanopticPostProcessor(tf_keras.layers.Layer):
  """Turns model outputs into panoptic, semantic and instance predictions.

  Stateless (no weights). Runs in float32 whatever the global policy, so a
  mixed-precision model's float16 heads are not degraded further.

  Args:
    num_classes: number of semantic classes K.
    thing_class_ids: class ids with instances; all other ids are stuff.
    center_threshold: centers must score above this (default 0.1).
    nms_kernel: odd max-pool NMS window (default 7; the public TF configs
      use 13).
    top_k: maximum number of instances per image (default 200).
    stuff_area_limit: stuff classes with fewer pixels in an image become
      void (default 2048; 4096 for COCO).
    label_divisor: panoptic = class * label_divisor + instance id (default
      1000; 256 for COCO); must be larger than top_k.
    void_label: class id of void pixels, outside [0, num_classes)
      (default 255).
    output_instance_masks: whether outputs include 'instance_masks'
      [batch, top_k, height, width] (default True).
  """

  def __init__(self,
               num_classes: int,
               thing_class_ids: Sequence[int],
               center_threshold: float = 0.1,
               nms_kernel: int = 7,
               top_k: int = 200,
               stuff_area_limit: int = 2048,
               label_divisor: int = 1000,
               void_label: int = 255,
               output_instance_masks: bool = True,
               **kwargs):
    kwargs.setdefault('dtype', 'float32')
    super().__init__(**kwargs)
    pp_ops.validate_options(num_classes, thing_class_ids, center_threshold,
                            nms_kernel, top_k, stuff_area_limit,
                            label_divisor, void_label)
    self.num_classes = int(num_classes)
    self.thing_class_ids = [int(c) for c in thing_class_ids]
    self.center_threshold = float(center_threshold)
    self.nms_kernel = int(nms_kernel)
    self.top_k = int(top_k)
    self.stuff_area_limit = int(stuff_area_limit)
    self.label_divisor = int(label_divisor)
    self.void_label = int(void_label)
    self.output_instance_masks = bool(output_instance_masks)

  def call(self, inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Post-processes one batch.

    Args:
      inputs: dict with 'semantic_logits' [batch, height, width,
        num_classes], 'center_heatmap' [batch, height, width, 1] and
        'center_offsets' [batch, height, width, 2] (the model's outputs).

    Returns:
      The dict of `panoptic_postprocess`: 'panoptic', 'semantic',
      'category', 'instance' [batch, height, width]; 'instance_classes',
      'instance_scores', 'instance_valid' [batch, top_k]; 'center_points'
      [batch, top_k, 2]; 'center_scores' [batch, top_k]; optionally
      'instance_masks' [batch, top_k, height, width].
    """
    missing = [k for k in ('semantic_logits', 'center_heatmap',
                           'center_offsets') if k not in inputs]
    if missing:
      raise ValueError(f'inputs: missing keys {missing} (a semantic-only '
                       f'model cannot be post-processed into instances).')
    logits = inputs['semantic_logits']
    if logits.shape[-1] is not None and logits.shape[-1] != self.num_classes:
      raise ValueError(f'inputs[semantic_logits]: expected {self.num_classes} '
                       f'classes in the last dimension, got {logits.shape}.')
    logits = tf.ensure_shape(logits, [None, None, None, self.num_classes])
    return pp_ops.panoptic_postprocess(
        logits, inputs['center_heatmap'], inputs['center_offsets'],
        thing_class_ids=self.thing_class_ids,
        center_threshold=self.center_threshold, nms_kernel=self.nms_kernel,
        top_k=self.top_k, stuff_area_limit=self.stuff_area_limit,
        label_divisor=self.label_divisor, void_label=self.void_label,
        output_instance_masks=self.output_instance_masks)

  def get_config(self) -> dict:
    config = super().get_config()
    config.update({
        'num_classes': self.num_classes,
        'thing_class_ids': list(self.thing_class_ids),
        'center_threshold': self.center_threshold,
        'nms_kernel': self.nms_kernel,
        'top_k': self.top_k,
        'stuff_area_limit': self.stuff_area_limit,
        'label_divisor': self.label_divisor,
        'void_label': self.void_label,
        'output_instance_masks': self.output_instance_masks,
    })
    return config
