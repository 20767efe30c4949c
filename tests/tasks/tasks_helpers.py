"""Tiny experiment overrides shared by the task tests."""

from official.core import exp_factory

from axial_deeplab_tf.configs import classification_experiments  # pylint: disable=unused-import
from axial_deeplab_tf.configs import panoptic_experiments  # pylint: disable=unused-import

TINY_BACKBONE = {'axial_resnet': {'span': 0, 'width_multiplier': 0.125,
                                  'stage_blocks': [1, 1, 1, 1],
                                  'max_distance': 8}}
TINY_DECODER = {'semantic_aspp_channels': 16,
                'semantic_low_level_channels': [8, 8],
                'semantic_decoder_channels': 16, 'semantic_head_channels': 16,
                'instance_aspp_channels': 16,
                'instance_low_level_channels': [8, 8],
                'instance_decoder_channels': 16, 'center_head_channels': 8,
                'offset_head_channels': 8}


def tiny_panoptic_params(paths, num_classes=5, size=48):
  params = exp_factory.get_exp_config('axial_deeplab_shapes')
  params.override({'task': {
      'model': {'num_classes': num_classes, 'backbone': TINY_BACKBONE,
                'decoder': TINY_DECODER},
      'train_data': {'input_path': paths['train'], 'global_batch_size': 2,
                     'crop_size': [size, size], 'seed': 0,
                     'deterministic': True, 'cache': False},
      'validation_data': {'input_path': paths['val'], 'global_batch_size': 2,
                          'eval_pad_size': [size, size]}}},
                  is_strict=True)
  return params
