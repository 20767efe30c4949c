"""Model Garden dataclass configs of axial_deeplab_tf."""
