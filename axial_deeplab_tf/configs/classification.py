"""ImageNet classification task config (Axial-ResNet pretraining).

Every key is documented in docs/training.md; experiments are registered
in `classification_experiments.py`.
"""

import dataclasses
from typing import List, Optional, Sequence, Union

from official.core import config_definitions as cfg
from official.modeling import hyperparams
from official.vision.configs import common

from axial_deeplab_tf.configs import backbones
from axial_deeplab_tf.data import normalization


@dataclasses.dataclass
class ClassificationDataConfig(cfg.DataConfig):
  """The classification data config, read by
  `dataloaders.build_classification_dataset`.

  Model Garden's `DataConfig` keys are read by its `InputReader`
  (input_path, tfds_name, tfds_split, tfds_data_dir, global_batch_size,
  is_training, shuffle_buffer_size, cache, cycle_length, block_length,
  sharding, deterministic, seed, ...; training repeats, evaluation does
  not and keeps the record order). `drop_remainder` None means "when
  training". The rest are classification options (docs/data.md):

  Attributes:
    image_size: side S of the square model input.
    area_range: area fraction of the random resized crop (training).
    aspect_ratio_range: aspect ratio of the random resized crop.
    center_crop_fraction: side of the evaluation crop, as a fraction of
      the shorter image side.
    flip: random horizontal flip (training).
    mean, std: normalization of images in [0, 1] (ImageNet RGB).
  """
  input_path: Union[Sequence[str], str] = ''
  tfds_name: str = ''
  tfds_split: str = ''
  global_batch_size: int = 256
  is_training: bool = True
  drop_remainder: Optional[bool] = None
  shuffle_buffer_size: int = 10000
  cycle_length: Optional[int] = 8
  deterministic: Optional[bool] = False
  image_size: int = 224
  area_range: List[float] = dataclasses.field(
      default_factory=lambda: [0.08, 1.0])
  aspect_ratio_range: List[float] = dataclasses.field(
      default_factory=lambda: [3 / 4, 4 / 3])
  center_crop_fraction: float = 0.875
  flip: bool = True
  mean: List[float] = dataclasses.field(
      default_factory=lambda: list(normalization.IMAGENET_MEAN))
  std: List[float] = dataclasses.field(
      default_factory=lambda: list(normalization.IMAGENET_STD))


@dataclasses.dataclass
class ClassificationModel(hyperparams.Config):
  """Axial-ResNet classifier: backbone, pooling, dropout, dense."""
  num_classes: int = 1000
  backbone: backbones.Backbone = dataclasses.field(
      default_factory=lambda: backbones.axial_resnet('axial_resnet_s'))
  dropout_rate: float = 0.0
  norm_activation: common.NormActivation = dataclasses.field(
      default_factory=lambda: common.NormActivation(
          activation='relu', use_sync_bn=True, norm_momentum=0.9,
          norm_epsilon=1e-5))


@dataclasses.dataclass
class ClassificationLosses(hyperparams.Config):
  label_smoothing: float = 0.1
  l2_weight_decay: float = 1e-4


@dataclasses.dataclass
class ClassificationTask(cfg.TaskConfig):
  """The classification task (`tasks.classification.ClassificationTask`).

  init_checkpoint_modules: 'all' or 'backbone' (see the panoptic task).
  """
  model: ClassificationModel = dataclasses.field(
      default_factory=ClassificationModel)
  train_data: ClassificationDataConfig = dataclasses.field(
      default_factory=lambda: ClassificationDataConfig(is_training=True))
  validation_data: ClassificationDataConfig = dataclasses.field(
      default_factory=lambda: ClassificationDataConfig(is_training=False))
  losses: ClassificationLosses = dataclasses.field(
      default_factory=ClassificationLosses)
  top_k: List[int] = dataclasses.field(default_factory=lambda: [1, 5])
  init_checkpoint: str = ''
  init_checkpoint_modules: str = 'all'
