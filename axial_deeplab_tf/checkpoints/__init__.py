"""Foreign checkpoints: reading them and importing them as ours.

* `torch_pickle`: reads a PyTorch `.pth` (zip or legacy format) into numpy
  arrays without torch.
* `pytorch_axialnet`: the authors' PyTorch Axial-ResNets as an import
  source (models, state-dict reading, the name and layout mapping).
* `deeplab2_reader`: reads a deeplab2 TF2 checkpoint (both of its key
  layouts) into numpy arrays without deeplab2.
* `deeplab2_blocks`: deeplab2's residual blocks and axial attention mapped
  onto ours (used by every deeplab2 backbone).
* `deeplab2`: deeplab2's models as an import source.
* `importer`: `import_checkpoint(source, checkpoint, model, output_dir)`,
  the source-independent part (experiment, model build, checks, atomic
  write); `tools/import_checkpoint.py` is its command line.

docs/checkpoints.md lists the checkpoints, commands and what was verified.
"""
