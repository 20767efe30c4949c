"""Panoptic task config: model, data, losses, evaluation (Model Garden style).

Every key is documented in docs/training.md. The experiments built from
these dataclasses are registered in `panoptic_experiments.py`.

The panoptic id encoding (num_classes, thing_class_ids, label_divisor,
void_label) is `PanopticModel.encoding()`, one `data.encoding.
PanopticEncoding` that the task hands to the data pipeline, the
post-processor and the metrics, so no data, post-processing or metric
config has a label divisor or thing list of its own
(`data.encoding.CONFIG_KEYS` names the key that sets each field).
"""

import dataclasses
from typing import List, Optional, Sequence, Union

from official.core import config_definitions as cfg
from official.modeling import hyperparams
from official.vision.configs import common

from axial_deeplab_tf.configs import backbones
from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import normalization
from axial_deeplab_tf.ops import post_processing_options as options_lib

@dataclasses.dataclass
class PanopticDataConfig(cfg.DataConfig):
  """The panoptic data config, read by `dataloaders.build_panoptic_dataset`.

  Model Garden's `DataConfig` keys are read by its `InputReader`
  (input_path, tfds_name, tfds_split, tfds_data_dir, global_batch_size,
  is_training, shuffle_buffer_size, cache, cycle_length, block_length,
  sharding, deterministic, seed, ...; training repeats, evaluation does
  not; `cache` keeps the decoded examples in memory, for small datasets,
  and they are still augmented afresh each epoch). `drop_remainder` None
  means "when training"; evaluation always keeps the record order. The
  label divisor and thing classes are not data options: they come from
  `PanopticModel.encoding()`. The rest are panoptic options (docs/data.md):

  Attributes:
    crop_size: (height, width) of training crops.
    min_scale, max_scale: random scale range (training).
    flip: random horizontal flip (training).
    ignore_label: semantic label of void and padding.
    sigma: center heatmap Gaussian sigma (pixels).
    small_instance_area, small_instance_weight: semantic weight of small
      instances.
    ignore_crowd_in_semantic: crowd pixels get ignore_label.
    eval_pad_size: fixed (height, width) evaluation images are padded to;
      None pads to k * pad_size_divisor + pad_size_offset.
    pad_size_divisor, pad_size_offset: see eval_pad_size.
    mean, std: normalization of images in [0, 1] (ImageNet RGB).
  """
  input_path: Union[Sequence[str], str] = ''
  tfds_name: str = ''
  tfds_split: str = ''
  global_batch_size: int = 8
  is_training: bool = True
  drop_remainder: Optional[bool] = None
  shuffle_buffer_size: int = 1000
  cycle_length: Optional[int] = 8
  deterministic: Optional[bool] = False
  crop_size: List[int] = dataclasses.field(default_factory=lambda: [513, 513])
  min_scale: float = 0.5
  max_scale: float = 2.0
  flip: bool = True
  ignore_label: int = 255
  sigma: float = 8.0
  small_instance_area: int = 4096
  small_instance_weight: float = 3.0
  ignore_crowd_in_semantic: bool = False
  eval_pad_size: Optional[List[int]] = None
  pad_size_divisor: int = 32
  pad_size_offset: int = 0
  mean: List[float] = dataclasses.field(
      default_factory=lambda: list(normalization.IMAGENET_MEAN))
  std: List[float] = dataclasses.field(
      default_factory=lambda: list(normalization.IMAGENET_STD))


@dataclasses.dataclass
class PostProcessing(hyperparams.Config):
  """`modeling.PanopticPostProcessor` options (docs/panoptic.md)."""
  center_threshold: float = (
      options_lib.PostProcessingOptions.center_threshold)
  nms_kernel: int = options_lib.PostProcessingOptions.nms_kernel
  top_k: int = options_lib.PostProcessingOptions.top_k
  stuff_area_limit: int = (
      options_lib.PostProcessingOptions.stuff_area_limit)
  label_divisor: int = 1000
  void_label: int = 255


@dataclasses.dataclass
class Decoder(hyperparams.Config):
  """Panoptic-DeepLab decoder and head widths (Panoptic-DeepLab), and
  whether training recomputes the decoder branches in the backward pass
  (`recompute_decoder`, see `modeling.panoptic_deeplab.PanopticDeepLab`)."""
  semantic_aspp_channels: int = 256
  semantic_low_level_channels: List[int] = dataclasses.field(
      default_factory=lambda: [64, 32])
  semantic_decoder_channels: int = 256
  semantic_head_channels: int = 256
  instance_aspp_channels: int = 256
  instance_low_level_channels: List[int] = dataclasses.field(
      default_factory=lambda: [32, 16])
  instance_decoder_channels: int = 128
  center_head_channels: int = 32
  offset_head_channels: int = 32
  kernel_size: int = 5
  aspp_atrous_rates: List[int] = dataclasses.field(
      default_factory=lambda: [6, 12, 18])
  recompute_decoder: bool = False


@dataclasses.dataclass
class PanopticModel(hyperparams.Config):
  """Axial-DeepLab model options."""
  num_classes: int = 19
  thing_class_ids: List[int] = dataclasses.field(default_factory=list)
  backbone: backbones.Backbone = dataclasses.field(
      default_factory=lambda: backbones.axial_resnet('axial_deeplab_l'))
  output_stride: int = 16
  use_aspp: bool = False
  decoder: Decoder = dataclasses.field(default_factory=Decoder)
  norm_activation: common.NormActivation = dataclasses.field(
      default_factory=lambda: common.NormActivation(
          activation='relu', use_sync_bn=True, norm_momentum=0.99,
          norm_epsilon=1e-3))
  post_processing: PostProcessing = dataclasses.field(
      default_factory=PostProcessing)

  def encoding(self) -> encoding_lib.PanopticEncoding:
    """The panoptic id encoding this model's data, post-processing,
    evaluation and export share (keys in `data.encoding.CONFIG_KEYS`)."""
    return encoding_lib.PanopticEncoding(
        num_classes=self.num_classes,
        thing_class_ids=tuple(self.thing_class_ids),
        label_divisor=self.post_processing.label_divisor,
        void_label=self.post_processing.void_label)


@dataclasses.dataclass
class PanopticLosses(hyperparams.Config):
  """`losses.PanopticLoss` weights plus L2 weight decay."""
  semantic_weight: float = 1.0
  center_weight: float = 200.0
  offset_weight: float = 0.01
  top_k_percent: float = 0.2
  l2_weight_decay: float = 0.0


@dataclasses.dataclass
class PanopticEvaluation(hyperparams.Config):
  """Which metrics to compute and how to run inference in evaluation.

  Attributes:
    compute_pq, compute_miou, compute_ap: metric switches.
    report_per_class: add per-class PQ / IoU / AP keys.
    max_detections: mask AP detections kept per image.
    scales: inference scales; [1.0] is single-scale, the paper's MS rows
      use [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0].
    flip: also average the horizontally flipped prediction.
  """
  compute_pq: bool = True
  compute_miou: bool = True
  compute_ap: bool = True
  report_per_class: bool = False
  max_detections: int = 100
  scales: List[float] = dataclasses.field(default_factory=lambda: [1.0])
  flip: bool = False


@dataclasses.dataclass
class PanopticTask(cfg.TaskConfig):
  """The panoptic task (`tasks.panoptic.PanopticTask`).

  Attributes:
    init_checkpoint: checkpoint file or folder to start from (used only
      when model_dir holds no checkpoint).
    init_checkpoint_modules: 'all' (every variable whose shape matches;
      heads with a different class count are left initialised) or
      'backbone'.
    image_summary_max_outputs: images per TensorBoard panel (0: none).
  """
  model: PanopticModel = dataclasses.field(default_factory=PanopticModel)
  train_data: PanopticDataConfig = dataclasses.field(
      default_factory=lambda: PanopticDataConfig(is_training=True))
  validation_data: PanopticDataConfig = dataclasses.field(
      default_factory=lambda: PanopticDataConfig(is_training=False))
  losses: PanopticLosses = dataclasses.field(default_factory=PanopticLosses)
  evaluation: PanopticEvaluation = dataclasses.field(
      default_factory=PanopticEvaluation)
  init_checkpoint: str = ''
  init_checkpoint_modules: str = 'all'
  image_summary_max_outputs: int = 3
