"""Registered panoptic experiments (`exp_factory`).

| name | what |
|---|---|
| `axial_deeplab_{s,m,l,xl}_cityscapes` | paper Tables 6/7 setting, 19 classes |
| `axial_deeplab_{s,m,l}_coco` | COCO panoptic, 133 classes |
| `axial_deeplab_shapes` | the tiny CPU demo on the synthetic dataset |
| `deeplab2_max_deeplab_s_backbone_os16_cityscapes` | deeplab2's `max_deeplab_s_backbone_os16` Cityscapes config (for its published checkpoint) |
| `deeplab2_axial_deeplab_l_cityscapes` | the same settings with deeplab2's Axial-DeepLab-L backbone (to fine-tune its ImageNet checkpoint) |
| `deeplab2_axial_deeplab_s_cityscapes`, `deeplab2_axial_resnet_{s,l}_cityscapes`, `deeplab2_axial_resnet50_cityscapes` | the same settings with deeplab2's Axial-DeepLab-S, Axial-ResNet-S/L and Axial-ResNet-50 (MaX-S w/ GeLU) backbones (rows `deeplab2_<name>`, to fine-tune their ImageNet checkpoints) |
| `deeplab2_max_deeplab_l_backbone_os16_cityscapes` | deeplab2's `max_deeplab_l_backbone_os16` Cityscapes config (backbone row `axial_swidernet_1_1_1`: the same function) |
| `deeplab2_axial_swidernet_1_1_{1,3,4.5}_os16_cityscapes` | deeplab2's `axial_swidernet_1_1_{1,3,4.5}_os16` Cityscapes configs (the same settings, the wide-ResNet backbone rows `axial_swidernet_1_1_k`) |

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


def deeplab2_cityscapes(backbone: backbones.Backbone,
                        learning_rate: float = 1e-4
                        ) -> cfg.ExperimentConfig:
  """deeplab2's Cityscapes panoptic configs (github:google-research/deeplab2,
  `configs/cityscapes/axial_deeplab/<model>_os16.textproto`, which differ
  only in the backbone and MaX-DeepLab-L's learning rate) with `backbone`
  (`backbones.axial_resnet(row)` or `backbones.wide_resnet(row)`), so that
  a published checkpoint, imported with `tools/import_checkpoint.py
  --source=deeplab2`, evaluates as deeplab2 evaluates it (or an ImageNet
  encoder fine-tunes as deeplab2 fine-tunes).

  From the config: output stride 16, the decoder's 1x1-only ASPP
  (`aspp_use_only_1x1_proj_conv`), low-level projections (64, 32) /
  (32, 16), decoder channels 256 / 128, heads 256 / 32 / 32; crops of
  1025 x 2049 (eval: padded to it, batch 1, one scale, no flip), scale
  augmentation 0.5 - 2.0, batch 32, learning rate 1e-4 (MaX-DeepLab-L:
  7.5e-5; Adam, poly), 60k steps, loss weights 1 / 200 / 0.01 with top-k 0.2, small instances x3;
  post-processing center threshold 0.1, NMS kernel 13, stuff area limit
  2048, and deeplab2's default of 400 kept centers. Images are scaled to
  [-1, 1] (`x / 127.5 - 1`, deeplab2's input convention: mean and std
  0.5 on [0, 1] images). Drop path (keep 0.8, linear schedule in
  training) is not implemented for the `axial_resnet` rows, so their
  fine-tuning differs from deeplab2's in that respect; the `wide_resnet`
  rows (`axial_swidernet_1_1_k`) carry it.
  """
  config = cityscapes('s')
  task = config.task
  task.model.backbone = backbone
  task.model.post_processing = pcfg.PostProcessing(
      center_threshold=0.1, nms_kernel=13, top_k=400,
      stuff_area_limit=2048, label_divisor=1000)
  for data in (task.train_data, task.validation_data):
    data.mean = [0.5, 0.5, 0.5]
    data.std = [0.5, 0.5, 0.5]
  task.validation_data.global_batch_size = 1
  config.trainer = trainer_config(60000, 0, learning_rate=learning_rate)
  config.trainer.optimizer_config.warmup.type = None  # deeplab2: 0 steps
  return config


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
  exp_factory.register_config_factory(
      'deeplab2_max_deeplab_s_backbone_os16_cityscapes')(
          lambda: deeplab2_cityscapes(
              backbones.axial_resnet('deeplab2_max_deeplab_s_backbone')))
  # deeplab2 publishes no Cityscapes config for these backbones: the same
  # settings, to fine-tune their ImageNet checkpoints.
  for name in ('axial_deeplab_s', 'axial_deeplab_l', 'axial_resnet_s',
               'axial_resnet_l', 'axial_resnet50'):
    exp_factory.register_config_factory(f'deeplab2_{name}_cityscapes')(
        lambda name=name: deeplab2_cityscapes(
            backbones.axial_resnet(f'deeplab2_{name}')))
  # deeplab2's max_deeplab_l_backbone in Panoptic-DeepLab is
  # Axial-SWideRNet-(1, 1, 1) plus a stacked decoder that no output reads
  # (`checkpoints.deeplab2`, `UNUSED`).
  exp_factory.register_config_factory(
      'deeplab2_max_deeplab_l_backbone_os16_cityscapes')(
          lambda: deeplab2_cityscapes(
              backbones.wide_resnet('axial_swidernet_1_1_1'), 7.5e-5))
  for layers in ('1_1_1', '1_1_3', '1_1_4.5'):
    exp_factory.register_config_factory(
        f'deeplab2_axial_swidernet_{layers}_os16_cityscapes')(
            lambda layers=layers: deeplab2_cityscapes(
                backbones.wide_resnet(f'axial_swidernet_{layers}')))


_register()
