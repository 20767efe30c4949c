r"""Exports a trained experiment's network to ONNX (any input size).

  python trainer/export_onnx.py --experiment=axial_deeplab_shapes \
    --checkpoint_path=runs/demo --output_path=exports/demo.onnx

Needs the `export` extra (tf2onnx, onnx; onnxruntime to run it). Input
'images': float32 pixels in [0, 255], [batch, H, W, 3] with dynamic batch,
height and width (or fixed with --input_image_size / --batch_size);
normalization is inside. Outputs as for TFLite; no post-processing.
"""

from absl import app
from absl import flags

from axial_deeplab_tf.serving import network_export
from axial_deeplab_tf.train import cli

cli.define_experiment_flags()
cli.define_checkpoint_flag()
flags.DEFINE_string('output_path', None, 'The .onnx file to write '
                    '(required).')
flags.DEFINE_list('input_image_size', None,
                  'height,width to fix (default: dynamic).')
flags.DEFINE_integer('batch_size', None, 'Fixed batch size (default: any).')
flags.DEFINE_integer('opset', 17, 'ONNX opset.')
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too
FLAGS = flags.FLAGS


def export():
  _, module = cli.export_module_from_flags(FLAGS, ['output_path'])
  network_export.export_onnx(
      module.model, FLAGS.output_path, cli.image_size(FLAGS,
                                                      'input_image_size'),
      FLAGS.batch_size, FLAGS.opset, mean=module.mean, std=module.std)
  print(f'wrote {FLAGS.output_path}')


def main(argv):
  del argv
  return cli.report_errors(export)


if __name__ == '__main__':
  app.run(main)
