"""Foreign checkpoints: reading them and importing them as ours.

* `torch_pickle`: reads a PyTorch `.pth` (zip or legacy format) into numpy
  arrays without torch.
* `pytorch_axialnet`: the authors' PyTorch Axial-ResNets as an import
  source (models, state-dict reading, the name and layout mapping).
* `importer`: `import_checkpoint(source, checkpoint, model, output_dir)`,
  the source-independent part (experiment, model build, checks, atomic
  write); `tools/import_checkpoint.py` is its command line.

docs/checkpoints.md lists the checkpoints, commands and what was verified.
"""
