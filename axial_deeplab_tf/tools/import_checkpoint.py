r"""Imports published foreign weights as a checkpoint folder of ours.

    python -m axial_deeplab_tf.tools.import_checkpoint --source=pytorch \
        --checkpoint=axial26s.pth --model=axial26s --output_dir=/tmp/axial26s

Flags:
  --source: where the weights come from; 'pytorch' (the authors' PyTorch
    Axial-ResNets, github:csrhddlam/axial-deeplab) or 'deeplab2'
    (github:google-research/deeplab2's TF2 checkpoints). Others are
    refused with the list of supported sources.
  --checkpoint: the foreign file: a `.pth` in torch's zip or legacy
    format (read without torch), or a deeplab2 checkpoint prefix
    (`.../ckpt-60000`) or its folder (read without deeplab2).
  --model: the foreign model's name; for 'pytorch' the function name in
    `lib/models/axialnet.py`: axial26s, axial50s, axial50m, axial50l; for
    'deeplab2' the config stem of a whole model
    (max_deeplab_s_backbone_os16, axial_swidernet_1_1_{1,3,4.5}_os16,
    max_deeplab_l_backbone_os16) or the backbone name of an ImageNet
    encoder (max_deeplab_s_backbone, axial_deeplab_{s,l},
    axial_resnet_{s,l}, axial_resnet50 (MaX-S w/ GeLU), axial_swidernet
    (the (1, 1, 1) encoder), axial_swidernet_1_1_{3,4.5},
    max_deeplab_l_backbone; imported as a backbone for
    `task.init_checkpoint`).
  --output_dir: the checkpoint folder to write (absent or empty; written
    to a temporary folder beside it, then renamed).
  --params_override: optional override of the experiment's config, as in
    trainer/train.py (e.g. `task.model.num_classes=10` for a model trained
    with other classes); train, eval, export and predict then need it too.

The last line printed is `experiment=<registered experiment>`: evaluate
with `trainer/train.py --experiment=<it> --mode=eval --model_dir=DIR`,
export / predict with `--checkpoint_path=DIR`, fine-tune with
`task.init_checkpoint=DIR` (docs/checkpoints.md). An unreadable file, a
checkpoint of another model, and an unmapped, missing or shape-mismatched
tensor print one `ERROR: <message>` line and exit with status 1.
"""

from absl import app
from absl import flags

from axial_deeplab_tf.checkpoints import importer
from axial_deeplab_tf.train import cli

FLAGS = flags.FLAGS
_REQUIRED = ('source', 'checkpoint', 'model', 'output_dir')


def define_flags():
  """The tool's flags (defined when run as a main, so that importing this
  module defines none)."""
  flags.DEFINE_string('source', None,
                      f'Source of the weights: '
                      f'{", ".join(sorted(importer.SOURCES))}.')
  flags.DEFINE_string('checkpoint', None, 'The foreign checkpoint file.')
  flags.DEFINE_string('model', None,
                      'The foreign model name (pytorch: axial26s, axial50s, '
                      'axial50m, axial50l; deeplab2: '
                      'max_deeplab_s_backbone_os16, '
                      'max_deeplab_s_backbone, axial_deeplab_{s,l}, '
                      'axial_resnet_{s,l}, axial_resnet50, '
                      'axial_swidernet_1_1_{1,3,4.5}_os16, '
                      'max_deeplab_l_backbone_os16, axial_swidernet, '
                      'axial_swidernet_1_1_{3,4.5}, '
                      'max_deeplab_l_backbone).')
  flags.DEFINE_string('output_dir', None,
                      'Checkpoint folder to write (absent or empty).')
  flags.DEFINE_string('params_override', '',
                      'Override of the experiment config (YAML/JSON or '
                      'a.b=1,c.d=2), as in trainer/train.py.')


def run(source, checkpoint, model, output_dir, params_override=''):
  """Imports and prints the result, the experiment last; returns the exit
  status (1 after one `ERROR:` line on stderr)."""
  def body():
    result = importer.import_checkpoint(source, checkpoint, model,
                                        output_dir, params_override)
    print(f'imported {result.num_tensors} tensors of {model} from '
          f'{checkpoint} into {result.checkpoint}')
    if result.num_unused:
      print(f'left out {result.num_unused} tensors that no output of '
            f'{model} reads')
    if params_override:
      print(f'pass --params_override={params_override!r} to train, eval, '
            f'export and predict too')
    print(f'experiment={result.experiment}', flush=True)
  return cli.report_errors(body)


def main(argv):
  del argv
  status = cli.report_errors(lambda: cli.require(FLAGS, *_REQUIRED))
  return status or run(*(getattr(FLAGS, name) for name in _REQUIRED),
                       FLAGS.params_override)


if __name__ == '__main__':
  define_flags()
  app.run(main)
