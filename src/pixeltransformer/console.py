"""What a command prints of the libraries it runs on: the warnings and log lines that say nothing about this
project's runs are silenced (Lightning's tips, a TPU that is not there, warnings that are not the user's to act on,
the seed line of every other DDP process), a warning prints as one line, "warning: <message>", and Lightning's model
summary leaves out its FLOPs, which are 0 here.
"""

from __future__ import annotations

import logging
import re
import warnings

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .errors import debugging


class ParamSummary(ModelSummary):
    """Lightning's plain model summary without the FLOPs column and total, which are 0 here (the module has no
    example input to count them on)."""

    @staticmethod
    def summarize(summary_data, total_parameters, trainable_parameters, model_size, total_training_modes,
                  total_flops, **kwargs) -> None:
        columns = [c for c in summary_data if c[0] != "FLOPs"]
        table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes,
                                      total_flops, *columns)
        rank_zero_info("\n" + table.rsplit("\n", 1)[0])  # the last line is "0 Total Flops"


class _DropLitLoggerTip(logging.Filter):
    """Lightning's tips that do not apply here: litlogger's advert, and on a GPU its advice to set
    torch.set_float32_matmul_precision('medium' | 'high'). That lets torch run fp32 matmuls in TF32, with fp16's
    10-bit mantissa, and the model keeps the distance-bias attention in fp32 because its channels cancel terms of
    size l |x|^2 (model.Attention.keys_values), which that rounds by whole logits. configs/trainer/gpu.yaml's
    bf16-mixed is the fast path. Also its "TPU available: False, using: 0 TPU cores" at every start, on any machine
    without one: the device that runs is named on the CLI's own line (run_config.setup_line), and the GPU's line
    stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "litlogger" not in message and "set_float32_matmul_precision" not in message and \
            message != "TPU available: False, using: 0 TPU cores"


class _DropOtherRanksSeedLine(logging.Filter):
    """seed_everything's "[rank: 1] Seed set to 0": every other process of a DDP run repeats the first one's line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return re.match(r"\[rank: [1-9]\d*\] Seed set to", record.getMessage()) is None


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def quiet_console() -> None:
    """Silence messages that say nothing about this project's runs; warnings print as "warning: <message>", without
    the source file and line (kept with PIXELTRANSFORMER_DEBUG=1)."""
    if not debugging():
        warnings.formatwarning = _one_line_warning
    # SignalDataModule saves and restores its position in the epoch, which Lightning cannot see on a DataLoader
    warnings.filterwarnings("ignore", message=r".*your dataloader is not resumable")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")
    # a resumed run writes into its own checkpoints/ (a new run never reuses a folder: runs.check_new_run)
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # earlier versions kept RunCheckpoint's state under a key that names its save options, which its
    # on_load_checkpoint finds (checkpointing.py): Lightning's "add the following callbacks" would be wrong
    warnings.filterwarnings("ignore", message=r"Be aware that when using `ckpt_path`, callbacks .* Please add the "
                            r"following callbacks: \[\"RunCheckpoint\{[^\"]*'every_n_train_steps'[^\"]*\}\"\]\.$")
    # cli.main() hands LightningCLI the command line itself (a resume adds the run's config.yaml: runs.with_run_config)
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended to run from within Python")
    # Lightning counts log_every_n_steps over the whole run, not within an epoch, so a small training set (the cat
    # faces' 5 batches an epoch) is still logged every n steps, whatever this warning says
    warnings.filterwarnings("ignore", message=r"The number of training batches \(\d+\) is smaller than the logging")
    # Lightning's config saving and run_config.RunConfig pass jsonargparse's skip_none, which 4.49 renamed (the
    # floor, 4.27.7, has no skip_unset): shown where a run starts as `python -m pixeltransformer.cli` (torchrun),
    # and not the user's
    warnings.filterwarnings("ignore", message=r"\s*skip_none parameter was deprecated")
    warnings.filterwarnings("ignore", message=r"\s*By default only one JsonargparseDeprecationWarning per type is shown")
    # Lightning's all_gather (the validation NLLs and item keys of every rank) calls torch's, which torch 2.13 marks
    # deprecated: once per rank of every DDP run, and not the user's to act on
    warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.all_gather is deprecated")
    # a DDP validate or test scores each distinct item once (the items every rank saw are gathered and those the
    # distributed sampler repeats counted once), the same as one device: Lightning's advice to use one device is wrong here
    warnings.filterwarnings("ignore", message=r"Using `DistributedSampler` with the dataloaders\. During `trainer\.")
    # mixed precision keeps the weights float32, so the model summary's size at 32 bits is right, whatever this says
    warnings.filterwarnings("ignore", message=r"Precision (bf16|16)-mixed is not supported by the model summary")
    # 16-mixed on a CPU runs as bf16-mixed: the CLI says so itself, with what the run records
    # (run_config.record_precision)
    warnings.filterwarnings("ignore", message=r"You passed `Trainer\(accelerator='cpu', precision='16-mixed'\)`")
    from lightning_utilities.core import rank_zero  # rank_zero_info logs through this module's logger

    if not any(isinstance(f, _DropLitLoggerTip) for f in rank_zero.log.filters):
        rank_zero.log.addFilter(_DropLitLoggerTip())
    from lightning.fabric.utilities import seed  # seed_everything logs through this module's logger

    if not any(isinstance(f, _DropOtherRanksSeedLine) for f in seed.log.filters):
        seed.log.addFilter(_DropOtherRanksSeedLine())
