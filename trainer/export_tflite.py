r"""Exports a trained experiment's network to TFLite (fixed input size).

  python trainer/export_tflite.py --experiment=axial_deeplab_shapes \
    --checkpoint_path=runs/demo --input_image_size=97,97 \
    --output_path=exports/demo.tflite

Input 'images': float32 pixels in [0, 255], [batch_size, H, W, 3];
normalization is inside. Outputs: 'semantic_logits', 'center_heatmap',
'center_offsets' (panoptic) or 'logits' (classifier); post-processing is
not included (see docs/serving.md). TFLite builtin ops only.
"""

from absl import app
from absl import flags

from axial_deeplab_tf.serving import network_export
from axial_deeplab_tf.train import cli

cli.define_experiment_flags()
cli.define_checkpoint_flag()
flags.DEFINE_string('output_path', None, 'The .tflite file to write '
                    '(required).')
flags.DEFINE_list('input_image_size', None, 'height,width (required).')
flags.DEFINE_integer('batch_size', 1, 'Fixed batch size.')
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too
FLAGS = flags.FLAGS


def export():
  # Unfolded: the TFLite converter loses the signature of the folded model
  # (modeling/folding.py; 'Invalid signature_key', not investigated yet).
  _, module = cli.export_module_from_flags(
      FLAGS, ['output_path', 'input_image_size'], fold=False)
  size = cli.image_size(FLAGS, 'input_image_size')
  flatbuffer = network_export.export_tflite(
      module.model, FLAGS.output_path, size, FLAGS.batch_size,
      mean=module.mean, std=module.std)
  print(f'wrote {FLAGS.output_path} ({len(flatbuffer)} bytes, input '
        f'[{FLAGS.batch_size}, {size[0]}, {size[1]}, 3])')


def main(argv):
  del argv
  return cli.report_errors(export)


if __name__ == '__main__':
  app.run(main)
