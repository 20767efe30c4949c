"""Two workers on 127.0.0.1 (MultiWorkerMirroredStrategy) vs one process."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

import mw_worker
import trainer_helpers

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'mw_worker.py')


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _load(path):
  data = np.load(path)
  return [data[f'arr_{i}'] for i in range(len(data.files))]


def test_two_workers_match_one_process(tmp_path):
  env = trainer_helpers.env()
  init, single = str(tmp_path / 'init.npz'), str(tmp_path / 'single.npz')
  mw_worker.write_initial_weights(init)
  ports = _free_ports(2)
  cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
  # The one-process reference and the two workers run side by side.
  processes, outputs = [subprocess.Popen(
      [sys.executable, WORKER, 'single', init, single], env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)], []
  for index in range(2):
    worker_env = dict(env)
    worker_env['TF_CONFIG'] = json.dumps(
        {'cluster': cluster, 'task': {'type': 'worker', 'index': index}})
    outputs.append(str(tmp_path / f'worker{index}.npz'))
    processes.append(subprocess.Popen(
        [sys.executable, WORKER, 'worker', init, outputs[-1]],
        env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True))
  logs = []
  try:
    for process in processes:
      out, err = process.communicate(timeout=400)
      logs.append(out + err[-3000:])
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
  for process, log in zip(processes, logs):
    assert process.returncode == 0, log
  assert '1 replicas' in logs[0]
  assert '2 replicas' in logs[1] and '2 replicas' in logs[2]
  reference = _load(single)
  first, second = _load(outputs[0]), _load(outputs[1])
  initial = _load(init)
  assert any(not np.allclose(a, b) for a, b in zip(initial, reference))
  for a, b, r in zip(first, second, reference):
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-5)
