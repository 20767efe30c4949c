"""The profile arithmetic of benchmarks/peer_benchmark.py, on hand-built
trace events (no TensorFlow run)."""

import importlib.util
import os
import sys

import pytest

_HERE = os.path.join(os.path.dirname(__file__), '..', '..', 'benchmarks')


@pytest.fixture(scope='module', name='peer')
def _peer():
  sys.path.insert(0, _HERE)  # peer_benchmark imports memory_benchmark
  try:
    spec = importlib.util.spec_from_file_location(
        'peer_benchmark', os.path.join(_HERE, 'peer_benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
  finally:
    sys.path.remove(_HERE)


def test_self_durations_subtract_nested_events(peer):
  # One thread: the executor spans 0-100; a While op 10-90 holds a MatMul
  # (20-50) and a Softmax (60-70); a Conv2D runs 95-100 after it.
  events = [('Conv2D:Conv2D', 95, 5), ('ExecutorState::Process', 0, 100),
            ('MatMul:MatMul', 20, 30), ('While:While', 10, 80),
            ('Softmax:Softmax', 60, 10)]
  assert sorted(peer.self_durations(events)) == [
      ('Conv2D:Conv2D', 5), ('ExecutorState::Process', 15),
      ('MatMul:MatMul', 30), ('Softmax:Softmax', 10), ('While:While', 40)]


def test_top_shares_by_op_type(peer):
  # Bookkeeping events are left out; TF `name:Type`, torch `aten::bmm` and
  # XLA `fusion.3.clone` names fold to their type.
  durations = [('ExecutorState::Process', 500), ('ParallelFor', 70),
               ('a/MatMul:BatchMatMulV2', 30),
               ('b/MatMul:BatchMatMulV2', 20), ('aten::bmm', 10),
               ('fusion.3.clone', 25), ('fusion', 15)]
  assert peer.top_shares(durations, top=2) == [('BatchMatMulV2', 0.5),
                                               ('fusion', 0.4)]
