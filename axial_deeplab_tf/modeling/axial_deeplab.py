"""Axial-DeepLab: an Axial-ResNet backbone under Panoptic-DeepLab heads.

`build_axial_deeplab('axial_deeplab_l', num_classes=19, ...)` gives the
paper's panoptic model: the three-conv-stem Axial-ResNet at output stride
16 with span-65 attention in all four stages, the dual decoder without
ASPP, and the semantic, center and offset heads, all outputs at the input
resolution.
"""

from typing import Optional, Sequence

from axial_deeplab_tf.data import encoding
from axial_deeplab_tf.modeling import axial_resnet
from axial_deeplab_tf.modeling import panoptic_deeplab
from axial_deeplab_tf.modeling import variants


def build_axial_deeplab(variant: str = 'axial_deeplab_l',
                        num_classes: int = 19,
                        thing_class_ids: Sequence[int] = (),
                        span: Optional[int] = None,
                        max_distance: Optional[int] = None,
                        output_stride: int = 16,
                        use_aspp: bool = False,
                        semantic_only: bool = False,
                        block_size: Optional[int] = None,
                        recompute_attention: bool = False,
                        use_sync_bn: bool = False,
                        norm_momentum: float = 0.99,
                        norm_epsilon: float = 1e-3,
                        kernel_regularizer=None,
                        **head_kwargs) -> panoptic_deeplab.PanopticDeepLab:
  """Builds an Axial-DeepLab panoptic (or semantic-only) model.

  Args:
    variant: a backbone variant name (`axial_deeplab_{s,m,l,xl}` for the
      paper's models; any name of `variants.VARIANTS` works) or a
      `variants.Variant` row.
    num_classes: semantic classes K.
    thing_class_ids: ids of the thing classes, checked against
      `num_classes` and kept as `model.thing_class_ids` for
      post-processing.
    span: attention span override (None keeps the variant's 65; 0 global).
    max_distance: relative table reach override (default 254, 509 rows).
    output_stride: 16 (paper) or 32.
    use_aspp: add ASPP to both decoders (off in the paper).
    semantic_only: build only the semantic branch.
    block_size: local-attention block size.
    recompute_attention: recompute global attention in the backward pass
      (less training memory; see `AxialResNet`).
    use_sync_bn, norm_momentum, norm_epsilon, kernel_regularizer: shared by
      backbone, decoders and heads.
    **head_kwargs: further `PanopticDeepLab` options (decoder and head
      channels, ASPP rates, kernel size).

  Returns:
    A `PanopticDeepLab` model: images `[batch, H, W, 3]` (any H, W) -> dict
    `semantic_logits [batch, H, W, K]`, `center_heatmap [batch, H, W, 1]`,
    `center_offsets [batch, H, W, 2]` (float32).
  """
  if isinstance(variant, str):
    variants.get_variant(variant)
  thing_class_ids = encoding.validate_thing_class_ids(thing_class_ids, num_classes)
  norm = dict(use_sync_bn=use_sync_bn, norm_momentum=norm_momentum,
              norm_epsilon=norm_epsilon)
  backbone = axial_resnet.AxialResNet(
      variant, span=span, max_distance=max_distance,
      output_stride=output_stride, block_size=block_size,
      recompute_attention=recompute_attention,
      kernel_regularizer=kernel_regularizer, name='backbone', **norm)
  model = panoptic_deeplab.PanopticDeepLab(
      backbone, num_classes, output_stride=output_stride,
      semantic_only=semantic_only, use_aspp=use_aspp,
      kernel_regularizer=kernel_regularizer,
      name=variant if isinstance(variant, str) else 'axial_deeplab', **norm,
      **head_kwargs)
  model.thing_class_ids = thing_class_ids
  return model
