r"""Writes the synthetic shapes panoptic dataset (the demo's dataset).

  python trainer/make_synthetic_dataset.py --output_dir=data/synthetic \
    --num_train=400 --num_val=100 --image_size=96 --seed=0

Output: train-*.tfrecord, val-*.tfrecord and classes.json (5 classes:
stripes, speckle (stuff); circle, square, triangle (things)) recording
the panoptic encoding; the config values it needs are printed.
"""

import time

from absl import app
from absl import flags

from axial_deeplab_tf.dataloaders import synthetic
from axial_deeplab_tf.train import cli

flags.DEFINE_string('output_dir', None, 'Output folder.')
flags.DEFINE_integer('num_train', 400, 'Training images.')
flags.DEFINE_integer('num_val', 100, 'Validation images.')
flags.DEFINE_integer('image_size', 96, 'Side of the square images.')
flags.DEFINE_integer('seed', 0, 'Random seed; same seed, same dataset.')
flags.DEFINE_integer('num_shards', 4,
                     'Shards per split (at least 1; capped to the images).')
flags.DEFINE_integer('num_workers', 2, 'Writer threads.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return cli.report_errors(write)


def write():
  start = time.time()
  written = synthetic.write_synthetic_dataset(
      FLAGS.output_dir, num_train=FLAGS.num_train, num_val=FLAGS.num_val,
      seed=FLAGS.seed, num_shards=FLAGS.num_shards,
      config=synthetic.SyntheticConfig(image_size=FLAGS.image_size),
      num_workers=FLAGS.num_workers, show_progress=True)
  print(f'wrote {FLAGS.num_train} train + {FLAGS.num_val} val images to '
        f'{FLAGS.output_dir} ({sum(len(v) for v in written.values())} shards)'
        f' in {time.time() - start:.1f}s')
  print(synthetic.ENCODING.config_overrides())


if __name__ == '__main__':
  flags.mark_flags_as_required(['output_dir'])
  app.run(main)
