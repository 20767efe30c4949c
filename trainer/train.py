r"""Trains and evaluates axial_deeplab_tf experiments with Model Garden.

  python trainer/train.py --experiment=axial_deeplab_shapes \
    --mode=train_and_eval --model_dir=/tmp/run \
    --config_file=configs/axial_deeplab_shapes.yaml \
    --params_override='trainer.train_steps=200'

`runtime.distribution_strategy` picks one_device / mirrored /
multi_worker_mirrored (TF_CONFIG) / tpu; `runtime.mixed_precision_dtype`
float16 (with loss scaling) or bfloat16. A bad flag or config, input
patterns matching no file, a model_dir that is a file or holds a
checkpoint of another model, and a diverged loss (NaN, infinite, or above
trainer.loss_upper_bound) end the run with `ERROR: <message>` and exit
status 1 (see axial_deeplab_tf.train). A killed run resumes from the
latest checkpoint in model_dir when rerun. --checkpoint_path evaluates a
given checkpoint (--mode=eval) or starts training from it.
"""

from absl import app
from absl import flags

from axial_deeplab_tf.train import cli
from axial_deeplab_tf.train import runner

cli.define_experiment_flags()
flags.DEFINE_enum('mode', 'train_and_eval', runner.MODES,
                  'train; eval (the latest checkpoint, once); '
                  'train_and_eval; continuous_eval (each new checkpoint '
                  'until trainer.train_steps).')
flags.DEFINE_string('model_dir', None,
                    'Checkpoints, params.yaml, TensorBoard logs and '
                    'metrics.json (required).')
flags.DEFINE_string('checkpoint_path', None,
                    'Checkpoint prefix (<dir>/ckpt-N) or folder (its latest '
                    'checkpoint), e.g. an imported one: --mode=eval '
                    'evaluates it instead of model_dir\'s latest; the '
                    'training modes start from it (the whole model, step 0) '
                    'when model_dir holds no checkpoint yet, and resume from '
                    'model_dir after that. Not with continuous_eval or '
                    'task.init_checkpoint.')
flags.DEFINE_string('tpu', None,
                    'TPU name or grpc:// address (sets runtime.tpu).')
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too
FLAGS = flags.FLAGS


def train():
  runner.run(cli.params_from_flags(FLAGS), FLAGS.mode, FLAGS.model_dir,
             FLAGS.checkpoint_path)


def main(argv):
  del argv
  return cli.report_errors(train)


if __name__ == '__main__':
  app.run(main)
