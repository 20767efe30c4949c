"""The Model Garden backbone boilerplate shared by our backbones.

`FunctionalBackbone` is a functional `tf_keras.Model` whose subclass
builds its graph and then calls `super().__init__(inputs, endpoints,
config, input_specs, variant)`: it keeps `config` (the subclass's
constructor arguments) for `get_config` / `from_config`, the variant row as
`self.variant`, and the endpoint shapes as `output_specs`, which Model
Garden's decoders and heads read.
"""

import tf_keras


class FunctionalBackbone(tf_keras.Model):
  """A functional backbone model; see the module docstring.

  Args:
    inputs: the `tf_keras.Input`.
    endpoints: dict of output tensors (the model's outputs).
    config: the subclass's constructor arguments (`get_config`).
    input_specs: `tf_keras.layers.InputSpec` of the input.
    variant: the resolved variant row.
    **kwargs: `tf_keras.Model` arguments (`name`).
  """

  def __init__(self, inputs, endpoints, config, input_specs, variant,
               **kwargs):
    super().__init__(inputs=inputs, outputs=endpoints, **kwargs)
    self._config_dict = dict(config)
    self._input_specs = input_specs
    self.variant = variant
    self._output_specs = {k: v.get_shape() for k, v in endpoints.items()}

  @property
  def output_specs(self):
    """Endpoint shapes, keyed as the endpoints."""
    return self._output_specs

  def get_config(self):
    return dict(self._config_dict)

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)
