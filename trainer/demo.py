r"""`make demo`: train, evaluate, export and predict on synthetic shapes.

  python trainer/demo.py [--run_dir=runs/demo-...] [--train_steps=N]

See axial_deeplab_tf.train.demo for the steps; prints PQ / SQ / RQ, mIoU
and mask AP, and leaves everything in the run folder. Rerunning with the
same --run_dir resumes from its last checkpoint.
"""

import os

from absl import app
from absl import flags

from axial_deeplab_tf.train import demo

# The repository: trainer/ and configs/ are read from it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_string('run_dir', None,
                    'Run folder (default: runs/demo-<UTC time>).')
flags.DEFINE_string('data_dir', None,
                    'Where the synthetic dataset is written or reused '
                    '(default: runs/data/synthetic_64).')
flags.DEFINE_integer('train_steps', None,
                     'Override trainer.train_steps (and the decay steps).')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return demo.run_demo(ROOT, FLAGS.run_dir, FLAGS.data_dir, FLAGS.train_steps)


if __name__ == '__main__':
  app.run(main)
