"""Registered ImageNet experiments (`exp_factory`).

| name | backbone row |
|---|---|
| `axial_resnet_{s,m,l,xl}_imagenet` | conv-stem Axial-ResNet, global span |
| `full_axial_resnet_{s,m,l,xl}_imagenet` | stand-alone Axial-ResNet, span 15 |
| `axial_resnet_{26s,50s,50m,50l}_imagenet` | the PyTorch reference's `axial26s`, `axial50s/m/l` (docs/checkpoints.md imports their weights) |

Protocol: see docs/training.md (SGD Nesterov 0.9, cosine decay with linear
warm-up, label smoothing 0.1, weight decay 1e-4, 224 crops).
"""

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import optimization

from axial_deeplab_tf.configs import backbones
from axial_deeplab_tf.configs import classification as ccfg

IMAGENET_TRAIN_EXAMPLES = 1281167
IMAGENET_VAL_EXAMPLES = 50000


def imagenet(variant: str, batch_size: int = 1024, epochs: int = 90,
             warmup_epochs: int = 5) -> cfg.ExperimentConfig:
  """ImageNet-1k training of one backbone row."""
  steps_per_epoch = IMAGENET_TRAIN_EXAMPLES // batch_size
  train_steps = epochs * steps_per_epoch
  task = ccfg.ClassificationTask(
      model=ccfg.ClassificationModel(
          num_classes=1000,
          backbone=backbones.axial_resnet(variant)),
      train_data=ccfg.ClassificationDataConfig(
          tfds_name='imagenet2012', tfds_split='train', is_training=True,
          global_batch_size=batch_size),
      validation_data=ccfg.ClassificationDataConfig(
          tfds_name='imagenet2012', tfds_split='validation',
          is_training=False, global_batch_size=batch_size,
          drop_remainder=False))
  optimizer = optimization.OptimizationConfig({
      'optimizer': {'type': 'sgd', 'sgd': {'momentum': 0.9,
                                           'nesterov': True}},
      'learning_rate': {'type': 'cosine', 'cosine': {
          'initial_learning_rate': 0.1 * batch_size / 256,
          'decay_steps': train_steps}},
      'warmup': {'type': 'linear', 'linear': {
          'warmup_steps': warmup_epochs * steps_per_epoch,
          'warmup_learning_rate': 0.0}},
  })
  trainer = cfg.TrainerConfig(
      train_steps=train_steps,
      validation_steps=-(-IMAGENET_VAL_EXAMPLES // batch_size),
      validation_interval=steps_per_epoch, steps_per_loop=steps_per_epoch,
      summary_interval=steps_per_epoch, checkpoint_interval=steps_per_epoch,
      max_to_keep=5, best_checkpoint_export_subdir='best_ckpt',
      best_checkpoint_eval_metric='top_1_accuracy',
      best_checkpoint_metric_comp='higher', optimizer_config=optimizer)
  return cfg.ExperimentConfig(
      task=task, trainer=trainer,
      runtime=cfg.RuntimeConfig(distribution_strategy='mirrored'),
      restrictions=['task.train_data.is_training != None',
                    'task.validation_data.is_training != None'])


def _register():
  for size in ('s', 'm', 'l', 'xl'):
    for prefix in ('axial_resnet', 'full_axial_resnet'):
      exp_factory.register_config_factory(f'{prefix}_{size}_imagenet')(
          lambda v=f'{prefix}_{size}': imagenet(v))
  for name in ('26s', '50s', '50m', '50l'):
    exp_factory.register_config_factory(f'axial_resnet_{name}_imagenet')(
        lambda v=f'axial_resnet_{name}': imagenet(v))


_register()
