"""What the trainer mains (trainer/*.py) share, written once.

- `experiment`: `load_experiment()`, the one way to get an experiment
  config, with errors naming the experiment, file, key or value at fault
  (`ConfigError`); importing it registers our experiments and tasks.
- `preflight`: checks of input files and model_dir before a run.
- `actions`: Orbit actions (progress log, divergence stop, metrics JSON,
  panoptic image panels).
- `runner`: `run(params, mode, model_dir)`, train / eval through Model
  Garden's `train_lib.OrbitExperimentRunner` (under several workers, the
  chief alone writes to model_dir).
- `cli`: absl flag definitions and parsing shared by the mains, and
  `report_errors()`, which turns user errors into `ERROR: <message>` and
  exit status 1 in every main.
- `export`: `build_export_module()`, the experiment's model restored from
  a checkpoint (its path and step recorded) and wrapped by a `serving`
  export module; `run_config_file()`, the run's params.yaml that export
  and predict read by default.
- `demo`: `make demo` (train, evaluate, export and predict on synthetic
  shapes).

Checkpoint path resolution and restores live in
`axial_deeplab_tf.tasks.checkpoint_restore` (the tasks' init_checkpoint
needs them too).
"""
