"""Bridges from what training code already logs into a gymscope run.

- :mod:`gymscope.integrations.summary_writer`: :class:`SummaryWriter`, a
  drop-in for ``torch.utils.tensorboard.SummaryWriter`` (CleanRL's logger).
- :mod:`gymscope.sb3`: Stable-Baselines3's logger writing into the run.

Both are built on :class:`gymscope.RunLogger`. Nothing here imports PyTorch
or Stable-Baselines3.
"""
