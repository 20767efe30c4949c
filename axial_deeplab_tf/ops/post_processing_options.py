"""Panoptic-DeepLab post-processing thresholds: `PostProcessingOptions`.

What `ops.panoptic_merge` is told, apart from the label encoding: the
center selection and stuff filtering thresholds, validated when built,
and the one place their defaults are written (the task config
`task.model.post_processing`, the `PanopticPostProcessor` layer and the
export module take them from here).
"""

import dataclasses

from axial_deeplab_tf.data import encoding as encoding_lib


@dataclasses.dataclass(frozen=True)
class PostProcessingOptions:
  """Center selection and stuff filtering thresholds, validated on creation.

  Attributes:
    center_threshold: a center must score strictly above this.
    nms_kernel: odd max-pool NMS window (the public Panoptic-DeepLab TF
      configs use 13).
    top_k: center slots (maximum number of instances) per image.
    stuff_area_limit: stuff classes covering fewer pixels of an image
      become void (2048 for Cityscapes, 4096 for COCO).

  Raises:
    ValueError: naming the first field that is not usable.
  """
  center_threshold: float = 0.1
  nms_kernel: int = 7
  top_k: int = 200
  stuff_area_limit: int = 2048

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      try:
        object.__setattr__(self, field.name, field.type(value))
      except (TypeError, ValueError) as e:
        raise ValueError(f'{field.name}: expected a {field.type.__name__}, '
                         f'got {value!r}.') from e
    if self.nms_kernel < 1 or self.nms_kernel % 2 == 0:
      raise ValueError(f'nms_kernel: expected an odd int >= 1, got '
                       f'{self.nms_kernel}.')
    if self.top_k < 1:
      raise ValueError(f'top_k: expected an int >= 1, got {self.top_k}.')
    if self.stuff_area_limit < 0:
      raise ValueError(f'stuff_area_limit: expected an int >= 0, got '
                       f'{self.stuff_area_limit}.')

  @classmethod
  def from_config(cls, config) -> 'PostProcessingOptions':
    """The options read from an object with these attribute names (e.g. a
    `configs.panoptic.PostProcessing`); other attributes are ignored."""
    return cls(**{f.name: getattr(config, f.name)
                  for f in dataclasses.fields(cls)})

  def check_encoding(self, encoding: encoding_lib.PanopticEncoding) -> None:
    """Raises ValueError naming label_divisor when instance ids 1..top_k
    do not fit below it."""
    if encoding.label_divisor <= self.top_k:
      raise ValueError(
          f'label_divisor: expected a value larger than the maximum number '
          f'of instances per image (top_k={self.top_k}), got '
          f'{encoding.label_divisor}.')
