"""Static-first shapes: Python ints where the traced shape knows a size;
and whether the graph being built is compiled by XLA (`in_xla`), the
other trace-time fact the attention's formulation depends on.

Shape arithmetic on Python ints costs no graph op, where `tf.shape(x)[i]`
adds a Shape, a StridedSlice and its constants, and every reshape from
such sizes a Pack. The attention builds several reshapes per layer and
its gradient as many again, so on a traced training step with static
image sizes these ops were most of the graph (and of its tracing and
optimisation time). Unknown sizes (a `None` axis) stay scalar tensors,
so the same code serves dynamic shapes (the serving signatures).
"""

import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # pylint: disable=g-direct-tensorflow-import


def dims(x):
  """The sizes of `x`'s axes: a list of Python ints where static, scalar
  int32 tensors where not."""
  dynamic = None
  sizes = []
  for i, size in enumerate(x.shape.as_list()):
    if size is None:
      dynamic = tf.shape(x) if dynamic is None else dynamic
      size = dynamic[i]
    sizes.append(size)
  return sizes


def is_static(*sizes):
  """Whether every size is a Python int."""
  return all(isinstance(s, int) for s in sizes)


def in_xla():
  """Whether the op being built is compiled by XLA (`jit_compile`)."""
  return control_flow_util.GraphOrParentsInXlaContext(
      tf.compat.v1.get_default_graph())
