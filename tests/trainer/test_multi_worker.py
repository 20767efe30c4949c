"""trainer/train.py on 1 and 2 workers (MultiWorkerMirroredStrategy on
127.0.0.1) of the panoptic task, train_and_eval with default panels.

The two runs go side by side and start from the same checkpoint: the
one-process run gets it with --checkpoint_path (training starts from it
when model_dir is empty), the 2-worker run finds it as `ckpt-0` in its
model_dir (the non-chief worker must restore it too: Model Garden would
give it fresh weights). Each trains on copies of one example without
augmentation (crop = image), so every global batch holds the same
examples whatever the sharding: the chief's checkpoint must equal the
one-process run's, and its metrics too (the 3 validation images are
split 2 + 1 across the workers and merged by `tasks.cross_worker`). Only
the chief writes to model_dir; the other worker's temporary folders are
removed.
"""

import glob
import json
import os
import shutil
import socket
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from official.core import task_factory

from axial_deeplab_tf.train import experiment
import trainer_helpers

STEPS = 2
# TINY with attention in stages 3 and 4 only (the row's blocks below
# stride 16 are convs; no drop path): the attention's synchronized
# batch norms still run across the workers, and each of the three
# processes traces half the attention layers (which dominate its CPU time).
MODEL = (trainer_helpers.TINY + ','
         'task.model.backbone.axial_resnet.variant='
         'deeplab2_max_deeplab_s_backbone,'
         'task.model.backbone.axial_resnet.drop_path_keep_prob=1.0')
# Evaluations after each step; global batch 6 splits over 1 and 2 workers.
SETTINGS = (MODEL + ',runtime.distribution_strategy={strategy},'
            'task.model.norm_activation.use_sync_bn=true,'
            'task.train_data.sharding=false,'
            'task.train_data.crop_size=[48,48],'
            'task.train_data.min_scale=1.0,task.train_data.max_scale=1.0,'
            'task.train_data.flip=false,'
            'task.train_data.global_batch_size=6,'
            'task.validation_data.global_batch_size=6,'
            'trainer.optimizer_config.warmup.linear.warmup_steps=1,'
            # Plain SGD: the update is linear in the gradient, so the
            # summation order of the all-reduce moves weights only by
            # rounding. Adam divides by sqrt(v): a near-zero gradient's
            # last bits turned into a 3e-4 difference of one weight (of
            # 32768) once.
            'trainer.optimizer_config.optimizer.type=sgd,'
            'trainer.optimizer_config.learning_rate.polynomial.'
            'initial_learning_rate=0.5,'
            'trainer.steps_per_loop=1,trainer.summary_interval=1,'
            'trainer.checkpoint_interval=1,trainer.validation_interval=1')


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _start(root, workers, paths, model, flag=False):
  """The `workers` processes of one run, model_dir root/run<workers>
  holding `model` as ckpt-0, or starting from root/start<workers>/ckpt-0
  with --checkpoint_path (`flag`)."""
  model_dir = str(root / f'run{workers}')
  start = str(root / f'start{workers}') if flag else model_dir
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model), start,
                             max_to_keep=None).save(checkpoint_number=0)
  strategy = 'multi_worker_mirrored' if workers > 1 else 'one_device'
  extra = SETTINGS.format(strategy=strategy)
  if workers == 1:
    # The image panels are checked on the workers' run only: the
    # reference run does not trace their inference.
    extra += ',task.image_summary_max_outputs=0'
  args = trainer_helpers.train_args(model_dir, paths, steps=STEPS,
                                    extra=extra)
  if flag:
    args.append(f'--checkpoint_path={start}')
  cluster = {'worker': [f'127.0.0.1:{p}' for p in _free_ports(workers)]}
  processes = []
  for index in range(workers):
    env = trainer_helpers.env()
    env['TMPDIR'] = str(root / f'tmp{workers}_{index}')
    os.makedirs(env['TMPDIR'])
    if workers > 1:
      env['TF_CONFIG'] = json.dumps(
          {'cluster': cluster, 'task': {'type': 'worker', 'index': index}})
    # A file, not a pipe: a full pipe would block a worker, and the cluster.
    with open(root / f'log{workers}_{index}.txt', 'w') as log:
      processes.append(subprocess.Popen(
          args, env=env, stdout=log, stderr=subprocess.STDOUT))
  return model_dir, processes


def _variables(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {k: reader.get_tensor(k)
          for k in reader.get_variable_to_shape_map()
          if k.startswith('model/') and 'OPTIMIZER_SLOT' not in k}


def _events(folder):
  """({process ids in the event file names}, {tag: sorted steps}) of the
  event files in folder."""
  pids, tags = set(), {}
  for path in glob.glob(os.path.join(folder, 'events.out.tfevents.*')):
    pids.add(int(os.path.basename(path).split('.')[-3]))
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        tags.setdefault(value.tag, []).append(event.step)
  return pids, {k: sorted(v) for k, v in tags.items()}


def _metrics(model_dir, step):
  with open(os.path.join(model_dir, f'metrics_{step}.json')) as f:
    return json.load(f)


@pytest.mark.slow
def test_workers_match_one_process(tmp_path, synthetic48):
  examples = sorted(glob.glob(synthetic48['val']))
  assert [sum(1 for _ in tf.data.TFRecordDataset(e)) for e in examples] == [
      1, 1, 1, 1]
  # Three validation files: the 2 workers get uneven shards (2 + 1).
  os.makedirs(tmp_path / 'val')
  for name in examples[:3] + [os.path.join(os.path.dirname(examples[0]),
                                            'classes.json')]:
    shutil.copy(name, tmp_path / 'val')
  paths = {'train': examples[0],
           'val': str(tmp_path / 'val' / os.path.basename(synthetic48['val']))}
  params = experiment.load_experiment('axial_deeplab_shapes',
                                      params_override=MODEL)
  model = task_factory.get_task(params.task).build_model()
  runs = {n: _start(tmp_path, n, paths, model, flag=n == 1) for n in (1, 2)}
  try:
    for _, processes in runs.values():
      for p in processes:
        p.wait(timeout=2400)
  finally:
    for _, processes in runs.values():
      for p in processes:
        if p.poll() is None:
          p.kill()
  logs = {n: [(tmp_path / f'log{n}_{i}.txt').read_text() for i in range(n)]
          for n in runs}
  for n, (_, processes) in runs.items():
    for p, log in zip(processes, logs[n]):
      assert p.returncode == 0, log[-5000:]
  assert 'num_workers = 2' in logs[2][1]
  assert '--checkpoint_path: restored the model from' in logs[1][0]

  single = runs[1][0]
  reference = _variables(os.path.join(single, f'ckpt-{STEPS}'))
  initial = _variables(os.path.join(tmp_path / 'start1', 'ckpt-0'))
  assert reference.keys() == initial.keys()
  assert any(not np.allclose(reference[k], initial[k]) for k in reference)
  model_dir, processes = runs[2]
  # The chief alone writes to model_dir: the same files as one process
  # (and its ckpt-0), events only from the chief's process id; the other
  # worker's temporary checkpoint folders are gone.
  start = [n for n in os.listdir(model_dir) if n.startswith('ckpt-0.')]
  assert start
  assert sorted(os.listdir(model_dir)) == sorted(os.listdir(single) + start)
  for index in range(2):
    tmp = tmp_path / f'tmp2_{index}'
    assert not [p for p in tmp.iterdir() if p.is_dir()]
  for sub in ('train', 'validation'):
    pids, tags = _events(os.path.join(model_dir, sub))
    assert pids == {processes[0].pid}, (sub, pids)
  for tag in ('images/input', 'images/predicted_panoptic',
              'images/groundtruth_panoptic', 'images/center_heatmap',
              'All_pq'):
    assert tags[tag] == [1, 2], (tag, tags.get(tag))
  # Same weights and metrics as one process.
  variables = _variables(os.path.join(model_dir, f'ckpt-{STEPS}'))
  assert variables.keys() == reference.keys()
  # The updates (checkpoint minus ckpt-0) agree to 1e-4 of the largest
  # update: summing the replicas' gradients instead of averaging them
  # would double it.
  scale = max(np.abs(reference[k] - initial[k]).max() for k in reference)
  for k in reference:
    np.testing.assert_allclose(variables[k] - initial[k],
                               reference[k] - initial[k], rtol=1e-3,
                               atol=1e-4 * scale, err_msg=k)
  # The host metrics (PQ, mIoU, AP: every validation image, merged over
  # the workers). Not the '*_loss' means: Keras averages per-replica
  # batch means, which depend on how the batch is split (e.g. the offset
  # loss is normalized per replica batch). 1e-3: a few of the 6912
  # validation pixels may flip with the last bits of the weights.
  for step in (1, STEPS):
    got, want = _metrics(model_dir, step), _metrics(single, step)
    assert got.keys() == want.keys()
    for k in want:
      if not k.endswith('_loss'):
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-3,
                                   err_msg=f'2 workers, step {step}: {k}')
