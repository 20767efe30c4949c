r"""Exports a trained experiment as a SavedModel for TF Serving.

  python trainer/export_saved_model.py \
    --experiment=axial_deeplab_shapes --config_file=my.yaml \
    --checkpoint_path=runs/demo --export_dir=exports/demo

Writes exports/demo/<version>/ (the next free integer unless --version)
with the signatures 'serving_default' (uint8 images [batch, H, W, 3]),
'image_bytes' (encoded JPEG/PNG strings [batch], sizes may differ) and
'tf_example' (serialized tf.Examples [batch]); see docs/serving.md for
their outputs. Panoptic experiments (a model config with thing_class_ids)
get preprocessing, network and post-processing in the graph; others are
exported as classifiers (logits, probabilities, top-k).
"""

from absl import app
from absl import flags

from axial_deeplab_tf.serving import saved_model_export
from axial_deeplab_tf.train import cli
from axial_deeplab_tf.train import experiment

cli.define_experiment_flags()
cli.define_checkpoint_flag()
flags.DEFINE_string('export_dir', None,
                    'Model base path; the version directory goes inside '
                    '(required).')
flags.DEFINE_list('input_type', ['image_tensor', 'image_bytes', 'tf_example'],
                  'Signatures to write: image_tensor (named '
                  'serving_default), image_bytes, tf_example. '
                  'serving_default is always written (TF Serving\'s '
                  'default).')
flags.DEFINE_integer('batch_size', None,
                     'Fixed batch size of the signatures (default: any).')
flags.DEFINE_list('input_image_size', None,
                  'height,width fixed for the image_tensor signature '
                  '(default: any size).')
flags.DEFINE_integer('version', None, 'Version directory number (default: '
                     'the next free one).')
flags.DEFINE_bool('output_semantic_probabilities', False,
                  'Panoptic: also output softmax probabilities [B, H, W, K].')
flags.DEFINE_bool('output_instance_masks', True,
                  'Panoptic: also output instance masks [B, top_k, H, W].')
flags.DEFINE_integer('image_size', None,
                     'Classification: evaluation crop size (default: the '
                     'config\'s validation image_size, else 224).')
flags.DEFINE_integer('top_k', 5, 'Classification: classes returned.')
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too
FLAGS = flags.FLAGS


def export():
  keys = cli.signature_keys(FLAGS.input_type)
  size = cli.image_size(FLAGS, 'input_image_size')
  _, module = cli.export_module_from_flags(
      FLAGS, ['export_dir'],
      output_semantic_probabilities=FLAGS.output_semantic_probabilities,
      output_instance_masks=FLAGS.output_instance_masks,
      image_size=FLAGS.image_size, top_k=FLAGS.top_k)
  try:
    path = saved_model_export.export_saved_model(
        module, FLAGS.export_dir, FLAGS.version, keys,
        batch_size=FLAGS.batch_size, input_image_size=size)
  except ValueError as e:  # names version or export_dir
    raise experiment.ConfigError(f'--{e}') from None
  print(f'wrote SavedModel {path} with signatures {keys}')


def main(argv):
  del argv
  return cli.report_errors(export)


if __name__ == '__main__':
  app.run(main)
