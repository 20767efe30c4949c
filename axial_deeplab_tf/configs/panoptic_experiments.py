"""Registered panoptic experiments (`exp_factory`).

| name | what |
|---|---|
| `axial_deeplab_{s,m,l,xl}_cityscapes` | paper Tables 6/7 setting, 19 classes |
| `axial_deeplab_{s,m,l}_coco` | COCO panoptic, 133 classes |
| `axial_deeplab_shapes` | the tiny CPU demo on the synthetic dataset |

Where each hyperparameter comes from is tabulated in docs/training.md.
"""

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import optimization

from axial_deeplab_tf.configs import backbones
from axial_deeplab_tf.configs import panoptic as pcfg

CITYSCAPES_THINGS = list(range(11, 19))  # person .. bicycle (trainIds)
COCO_THINGS = list(range(80))  # TFDS / converter order: 80 things first
SHAPES_THINGS = [2, 3, 4]  # circle, square, triangle

# The synthetic shapes dataset `axial_deeplab_shapes` reads by default
# (relative to the repository root): `make demo` writes it, and so does
# SHAPES_DATA_COMMAND.
SHAPES_DATA_DIR = 'runs/data/synthetic_64'
SHAPES_DATA = {'num_train': 400, 'num_val': 100, 'image_size': 64, 'seed': 0}
SHAPES_DATA_PATHS = {
    split: f'{SHAPES_DATA_DIR}/{split}-*-of-*.tfrecord'
    for split in ('train', 'val')}
SHAPES_DATA_COMMAND = ' '.join(
    ['python trainer/make_synthetic_dataset.py',
     f'--output_dir={SHAPES_DATA_DIR}']
    + [f'--{k}={v}' for k, v in SHAPES_DATA.items()])


def optimization_config(learning_rate, train_steps, warmup_steps,
                        power=0.9) -> optimization.OptimizationConfig:
  """Adam, linear warm-up, polynomial (poly 0.9) decay to 0."""
  return optimization.OptimizationConfig({
      'optimizer': {'type': 'adam', 'adam': {'epsilon': 1e-8}},
      'learning_rate': {'type': 'polynomial', 'polynomial': {
          'initial_learning_rate': learning_rate,
          'decay_steps': train_steps, 'power': power,
          'end_learning_rate': 0.0}},
      'warmup': {'type': 'linear', 'linear': {
          'warmup_steps': warmup_steps, 'warmup_learning_rate': 0.0}},
  })


def trainer_config(train_steps, warmup_steps, learning_rate=1e-3,
                   steps_per_loop=100, checkpoint_interval=1000,
                   validation_interval=5000) -> cfg.TrainerConfig:
  return cfg.TrainerConfig(
      train_steps=train_steps, validation_steps=-1,
      validation_interval=validation_interval,
      steps_per_loop=steps_per_loop, summary_interval=steps_per_loop,
      checkpoint_interval=checkpoint_interval, max_to_keep=5,
      best_checkpoint_export_subdir='best_ckpt',
      best_checkpoint_eval_metric='All_pq',
      best_checkpoint_metric_comp='higher',
      optimizer_config=optimization_config(learning_rate, train_steps,
                                           warmup_steps))


def _restrictions():
  return ['task.train_data.is_training != None',
          'task.validation_data.is_training != None']


def cityscapes(size: str) -> cfg.ExperimentConfig:
  """Axial-DeepLab-{size} on Cityscapes (fine, 19 trainIds)."""
  task = pcfg.PanopticTask(
      model=pcfg.PanopticModel(
          num_classes=19, thing_class_ids=list(CITYSCAPES_THINGS),
          backbone=backbones.axial_resnet(f'axial_deeplab_{size}'),
          post_processing=pcfg.PostProcessing(
              center_threshold=0.1, nms_kernel=7, top_k=200,
              stuff_area_limit=2048, label_divisor=1000)),
      train_data=pcfg.PanopticDataConfig(
          input_path='data/cityscapes/train-*', is_training=True,
          global_batch_size=32, crop_size=[1025, 2049], min_scale=0.5,
          max_scale=2.0),
      validation_data=pcfg.PanopticDataConfig(
          input_path='data/cityscapes/val-*', is_training=False,
          global_batch_size=8, eval_pad_size=[1025, 2049]))
  return cfg.ExperimentConfig(
      task=task, trainer=trainer_config(60000, 2000),
      runtime=cfg.RuntimeConfig(distribution_strategy='mirrored'),
      restrictions=_restrictions())


def coco(size: str) -> cfg.ExperimentConfig:
  """Axial-DeepLab-{size} on COCO panoptic (133 classes, 80 things)."""
  task = pcfg.PanopticTask(
      model=pcfg.PanopticModel(
          num_classes=133, thing_class_ids=list(COCO_THINGS),
          backbone=backbones.axial_resnet(f'axial_deeplab_{size}'),
          post_processing=pcfg.PostProcessing(
              center_threshold=0.1, nms_kernel=7, top_k=200,
              stuff_area_limit=4096, label_divisor=256)),
      train_data=pcfg.PanopticDataConfig(
          input_path='data/coco/train-*', is_training=True,
          global_batch_size=64, crop_size=[641, 641], min_scale=0.5,
          max_scale=1.5),
      validation_data=pcfg.PanopticDataConfig(
          input_path='data/coco/val-*', is_training=False,
          global_batch_size=8, eval_pad_size=[641, 641]))
  return cfg.ExperimentConfig(
      task=task, trainer=trainer_config(200000, 2000),
      runtime=cfg.RuntimeConfig(distribution_strategy='mirrored'),
      restrictions=_restrictions())


def shapes_backbone() -> backbones.Backbone:
  """The tiny Axial-DeepLab row of the demo: one axial block per stage,
  a quarter of L's width, global attention (fastest on CPU at 64 px)."""
  return backbones.Backbone(
      type='axial_resnet',
      axial_resnet=backbones.AxialResNet(
          variant='axial_deeplab_s', span=0, max_distance=16,
          stage_blocks=[1, 1, 1, 1], width_multiplier=0.25))


def shapes() -> cfg.ExperimentConfig:
  """The CPU demo: a tiny Axial-DeepLab on 64 px synthetic shapes.

  Tuned on 2 shared CPU cores: batch 8, Adam 5e-3, BN momentum 0.9 (short
  run), 1600 steps: PQ 0.815 on the validation split in 4.8 min.
  """
  size = SHAPES_DATA['image_size']
  decoder = pcfg.Decoder(
      semantic_aspp_channels=64, semantic_low_level_channels=[32, 16],
      semantic_decoder_channels=64, semantic_head_channels=64,
      instance_aspp_channels=64, instance_low_level_channels=[16, 8],
      instance_decoder_channels=32, center_head_channels=32,
      offset_head_channels=32, kernel_size=5)
  task = pcfg.PanopticTask(
      model=pcfg.PanopticModel(
          num_classes=5, thing_class_ids=list(SHAPES_THINGS),
          backbone=shapes_backbone(), decoder=decoder,
          norm_activation=pcfg.common.NormActivation(
              activation='relu', use_sync_bn=False, norm_momentum=0.9,
              norm_epsilon=1e-3),
          post_processing=pcfg.PostProcessing(
              center_threshold=0.1, nms_kernel=7, top_k=32,
              stuff_area_limit=64, label_divisor=256)),
      train_data=pcfg.PanopticDataConfig(
          input_path=SHAPES_DATA_PATHS['train'],
          is_training=True, global_batch_size=8, crop_size=[size, size],
          min_scale=0.75, max_scale=1.25, cache=True,
          shuffle_buffer_size=400),
      validation_data=pcfg.PanopticDataConfig(
          input_path=SHAPES_DATA_PATHS['val'],
          is_training=False, global_batch_size=20,
          eval_pad_size=[size, size], drop_remainder=False))
  steps = 1600
  trainer = trainer_config(steps, 100, learning_rate=5e-3, steps_per_loop=50,
                           checkpoint_interval=200, validation_interval=steps)
  return cfg.ExperimentConfig(
      task=task, trainer=trainer,
      runtime=cfg.RuntimeConfig(distribution_strategy='one_device'),
      restrictions=_restrictions())


def _register():
  for size in ('s', 'm', 'l', 'xl'):
    exp_factory.register_config_factory(f'axial_deeplab_{size}_cityscapes')(
        lambda size=size: cityscapes(size))
  for size in ('s', 'm', 'l'):
    exp_factory.register_config_factory(f'axial_deeplab_{size}_coco')(
        lambda size=size: coco(size))
  exp_factory.register_config_factory('axial_deeplab_shapes')(shapes)


_register()
