"""Axial-DeepLab for TensorFlow / tf_keras and Model Garden.

Importing the package tells AutoGraph not to convert its functions: none of
them relies on AutoGraph (control flow on tensors is written with `tf.cond`,
`tf.while_loop` and vectorised ops; a Python `if` on a tensor raises in a
graph instead of being converted), and converting them cost about as much
as tracing a small model (~90 functions of the train, eval and input
functions re-parsed in every process).
"""

from tensorflow.python.autograph.core import config as _autograph_config

_autograph_config.CONVERSION_RULES = (
    (_autograph_config.DoNotConvert(__name__),) +
    tuple(_autograph_config.CONVERSION_RULES))
