"""Small helpers for tf_keras: initializers and regularizers in configs,
and the output-signature shortcut of expensive layers.

Building a functional model (our backbones) calls every layer once on
placeholders in a throw-away graph, only to learn its output shapes and
dtypes (tf_keras `Layer._infer_output_signature`). An axial-attention
layer's call is hundreds of ops (and a while loop over chunks); tracing it
there made building an Axial-DeepLab-S take minutes on 2 cores. Such a
layer returns `placeholder_like_output(self, inputs)` when
`infers_output_signature()`: the signature `compute_output_shape` gives,
at no cost. Every weight must then exist after `build` (or be created by
the sublayer calls made before the shortcut). If tf_keras ever names that
graph otherwise, the check is False and layers trace as before.

Tools that need only shapes take the same shortcut inside
`output_signatures_only()`: `modeling.statistics.count_madds` traces a
model at 1025x2049 with it, each attention layer reduced to its
projection and a placeholder (eager calls inside it compute as usual).
"""

import contextlib
import threading

import tensorflow as tf
import tf_keras

# tf_keras names the graph in which it infers a layer's output signature
# `<layer name>_scratch_graph`.
_SCRATCH_GRAPH_SUFFIX = '_scratch_graph'
_SIGNATURES_ONLY = threading.local()


@contextlib.contextmanager
def output_signatures_only():
  """Within it (this thread), graph-mode calls only infer output
  signatures, as in functional model construction: for a trace that is
  read for its shapes and never run."""
  before = getattr(_SIGNATURES_ONLY, 'active', False)
  _SIGNATURES_ONLY.active = True
  try:
    yield
  finally:
    _SIGNATURES_ONLY.active = before


def infers_output_signature() -> bool:
  """Whether the current call only infers output signatures (functional
  model construction, or a graph-mode call inside
  `output_signatures_only()`), its graph thrown away."""
  if getattr(_SIGNATURES_ONLY, 'active', False) and (
      not tf.executing_eagerly()):
    return True
  graph = tf.compat.v1.get_default_graph()
  return getattr(graph, 'name', '').endswith(_SCRATCH_GRAPH_SUFFIX)


def placeholder_like_output(layer, inputs):
  """A placeholder of `layer`'s output shape (`compute_output_shape`) and
  compute dtype."""
  return tf.compat.v1.placeholder(
      layer.compute_dtype, layer.compute_output_shape(inputs.shape))


def fresh_initializer(initializer):
  """A new initializer instance from a name, config or instance.

  An unseeded tf_keras initializer instance returns the same values every
  time it is called, so each weight needs its own instance.
  """
  initializer = tf_keras.initializers.get(initializer)
  return initializer.__class__.from_config(initializer.get_config())


def serialize_initializer(initializer):
  return tf_keras.initializers.serialize(
      tf_keras.initializers.get(initializer))


def serialize_regularizer(regularizer):
  regularizer = tf_keras.regularizers.get(regularizer)
  return tf_keras.regularizers.serialize(regularizer) if regularizer else None
