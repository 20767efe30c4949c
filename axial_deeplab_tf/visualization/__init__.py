"""Palettes and overlays for panoptic predictions (numpy in, uint8 RGB out).

See `palettes` (COCO, Cityscapes, synthetic, generic colour tables; class
and panoptic id maps to colours) and
`overlays` (semantic blend, instance outlines, center heatmap, offset field).
"""

from axial_deeplab_tf.visualization.overlays import blend
from axial_deeplab_tf.visualization.overlays import heatmap_to_color
from axial_deeplab_tf.visualization.overlays import instance_boundaries
from axial_deeplab_tf.visualization.overlays import offsets_to_color
from axial_deeplab_tf.visualization.overlays import panoptic_overlay
from axial_deeplab_tf.visualization.palettes import colorize
from axial_deeplab_tf.visualization.palettes import colorize_panoptic
from axial_deeplab_tf.visualization.palettes import get_palette
from axial_deeplab_tf.visualization.palettes import label_colormap
