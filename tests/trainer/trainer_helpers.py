"""Helpers of the trainer tests: run the trainer mains as subprocesses."""

import os
import re
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, 'trainer', 'train.py')
PREDICT = os.path.join(ROOT, 'trainer', 'predict.py')
EXPORT_SAVED_MODEL = os.path.join(ROOT, 'trainer', 'export_saved_model.py')
EXPORT_TFLITE = os.path.join(ROOT, 'trainer', 'export_tflite.py')
EXPORT_ONNX = os.path.join(ROOT, 'trainer', 'export_onnx.py')

TINY = ('task.model.backbone.axial_resnet.span=0,'
        'task.model.backbone.axial_resnet.width_multiplier=0.125,'
        'task.model.backbone.axial_resnet.max_distance=8,'
        'task.model.decoder.semantic_aspp_channels=16,'
        'task.model.decoder.semantic_decoder_channels=16,'
        'task.model.decoder.semantic_head_channels=16,'
        'task.model.decoder.instance_aspp_channels=16,'
        'task.model.decoder.instance_decoder_channels=16,'
        'task.model.decoder.center_head_channels=8,'
        'task.model.decoder.offset_head_channels=8')
# With TINY: a conv-only backbone (ResNet bottlenecks, output stride 16),
# for the trainer tests whose checks do not depend on the model. Tracing
# the attention layers is most of a tiny run's CPU time: a train_and_eval
# subprocess of 2 steps took 39 CPU-s with this backbone, 120 with
# TINY's axial one (test_multi_worker keeps the attention).
CONV = ('task.model.backbone.axial_resnet.variant=resnet50,'
        'task.model.backbone.axial_resnet.output_stride=16')


def env():
  e = dict(os.environ)
  e['PYTHONPATH'] = ROOT + os.pathsep + e.get('PYTHONPATH', '')
  e['TF_CPP_MIN_LOG_LEVEL'] = '2'
  e['CUDA_VISIBLE_DEVICES'] = ''
  return e


def train_override(paths, steps=4, extra=''):
  """The --params_override of `train_args`: the tiny model on `paths`."""
  override = (f'{TINY},task.train_data.input_path={paths["train"]},'
              f'task.validation_data.input_path={paths["val"]},'
              f'task.train_data.crop_size=[32,32],'
              f'task.train_data.global_batch_size=2,'
              f'task.validation_data.eval_pad_size=[48,48],'
              f'task.validation_data.global_batch_size=4,'
              f'trainer.train_steps={steps},trainer.steps_per_loop=2,'
              f'trainer.summary_interval=2,trainer.checkpoint_interval=2,'
              f'trainer.validation_interval={steps}')
  return override + ',' + extra if extra else override


def train_args(model_dir, paths, mode='train_and_eval', steps=4, extra=''):
  return [sys.executable, TRAIN, '--experiment=axial_deeplab_shapes',
          f'--mode={mode}', f'--model_dir={model_dir}',
          f'--params_override={train_override(paths, steps, extra)}']


def run(args, timeout=400):
  return subprocess.run(args, env=env(), capture_output=True, text=True,
                        timeout=timeout, check=False)


def unfolded_weights(model):
  """The model's weights but those folding added (export folds the
  attention: `modeling.folding.fold_attention` names them
  `<layer>/qkv_folded/...` and `<layer>/folded_*_scale`), in order."""
  added = re.compile(r'(^|/)(qkv_folded/|folded_(content|output)_scale:)')
  return [w for w in model.weights if not added.search(w.name)]
