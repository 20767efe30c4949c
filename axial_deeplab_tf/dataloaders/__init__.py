"""Data: tf.Example schema, decoders, augmentation, targets, pipelines.

Public entry points:
  build_panoptic_dataset(params, encoding, input_context) -> batches of
    image / semantic / semantic_weights / center_heatmap / center_offsets /
    center_weights / offset_weights / panoptic / valid_mask / image_info,
    read from the task's `configs.panoptic.PanopticDataConfig` through
    Model Garden's InputReader.
  check_dataset_encoding(params, encoding): the dataset's recorded
    panoptic encoding must match the config's.
  build_classification_dataset(params, input_context) -> batches of
    image / label, read from the task's
    `configs.classification.ClassificationDataConfig` through Model
    Garden's InputReader.
  write_synthetic_dataset(output_dir, ...): the synthetic shapes dataset;
  ensure_synthetic_dataset(...) writes it only when missing.
See docs/data.md.
"""

from axial_deeplab_tf.dataloaders.classification_input import build_classification_dataset
from axial_deeplab_tf.dataloaders.dataset_metadata import check_dataset_encoding
from axial_deeplab_tf.dataloaders.panoptic_input import build_panoptic_dataset
from axial_deeplab_tf.dataloaders.synthetic import ensure_synthetic_dataset
from axial_deeplab_tf.dataloaders.synthetic import SyntheticConfig
from axial_deeplab_tf.dataloaders.synthetic import write_synthetic_dataset
