"""Bad input and unsafe checkpoints: clear one-line errors, nothing executed, nothing lost."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from pixeltransformer.loading import CheckpointError, load_checkpoint, load_module
from pixeltransformer.sets import SetSampler

REPO = Path(__file__).resolve().parents[2]


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def tiny_ckpt(tmp_path, tiny_module):
    import lightning as L

    from domains.polynomial.data import PolynomialDataModule

    dm = PolynomialDataModule(train_size=16, val_size=4, test_size=4, batch_size=4, resolution=64)
    module = type(tiny_module)(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                               sets=dict(max_context=10, num_queries=8, grid_points=True))
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        limit_val_batches=0, enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, datamodule=dm)
    path = tmp_path / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path, tiny_ckpt):
    marker = tmp_path / "pwned"
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["hyper_parameters"]["evil"] = _Payload(str(marker))
    evil = tmp_path / "evil.ckpt"
    torch.save(ckpt, evil)
    with pytest.raises(CheckpointError, match="refusing"):
        load_module(evil)
    assert not marker.exists()


def test_malicious_checkpoint_refused_by_cli_test(tmp_path, tiny_ckpt):
    from pixeltransformer.cli import main

    marker = tmp_path / "pwned"
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["callbacks"] = _Payload(str(marker))
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    torch.save(ckpt, run / "last.ckpt")
    with pytest.raises(ValueError, match="refusing .* it needs code beyond tensors and plain types to load"):
        main(["test", "--config", str(REPO / "configs/polynomial.yaml"), "--trainer.logger=false",
              "--data.init_args.test_size=4", "--data.init_args.resolution=64", "--ckpt_path", str(run / "last.ckpt")])
    assert not marker.exists()


@pytest.mark.parametrize("where, cause", [
    ("tpu", "map_location='tpu': not a device torch knows (use 'cpu' or 'cuda')"),
    ("meta", "map_location='meta': meta tensors hold no values, so the model could not compute (use 'cpu' or 'cuda')"),
    ("xpu", "map_location='xpu': this machine has no XPU device (use 'cpu')"),
], ids=["tpu", "meta", "xpu"])
def test_a_map_location_the_model_cannot_use_is_one_line(tiny_ckpt, where, cause):
    """torch's own error for an unknown device lists twenty device types, and 'meta' loaded a model that could not
    compute: each is refused by name before the checkpoint is read."""
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6; before it torch had no XPU build to ask
    if where == "xpu" and accelerator is not None and getattr(accelerator.current_accelerator(), "type", None) == "xpu":
        pytest.skip("this machine has an XPU")
    with pytest.raises(ValueError) as caught:
        load_module(tiny_ckpt, map_location=where)
    assert str(caught.value) == cause
    assert next(load_module(tiny_ckpt, map_location=torch.device("cpu")).parameters()).device.type == "cpu"


def test_a_map_location_given_as_an_index_names_the_accelerator(tiny_ckpt, monkeypatch):
    """torch reads map_location=0 as the accelerator's first device; without one it was "not a device torch knows"."""
    import pixeltransformer.loading as loading

    monkeypatch.setattr(loading, "accelerator", lambda: (None, 0))
    with pytest.raises(ValueError) as caught:
        load_module(tiny_ckpt, map_location=0)
    assert str(caught.value) == "map_location=0: an index names a GPU, and this machine has none (use 'cpu')"
    monkeypatch.setattr(loading, "accelerator", lambda: ("cuda", 1))
    assert loading.check_device(0) == torch.device("cuda", 0)
    with pytest.raises(ValueError, match=r"^map_location='cuda:1': this machine has 1 CUDA device, numbered from 0$"):
        loading.check_device(1)


def test_a_map_location_naming_the_cpu_by_index_loads(tiny_ckpt):
    """map_location="cpu:0" passed the device check and then failed in torch.load as "cannot read checkpoint ...:
    don't know how to restore data location of torch.storage.UntypedStorage (tagged with cpu:0)", as if the file
    were damaged."""
    module = load_module(tiny_ckpt, map_location="cpu:0")
    assert next(module.parameters()).device.type == "cpu"


def test_loading_a_module_leaves_the_global_random_stream_as_it_was(tiny_ckpt):
    """The module's random initial weights, which the checkpoint's replace, were drawn from torch's global generator:
    `torch.manual_seed(0); load_module(...); torch.rand(...)` drew other numbers than without the load."""
    torch.manual_seed(0)
    before = torch.get_rng_state()
    module = load_module(tiny_ckpt)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(1)  # and the module is the checkpoint's whatever the global stream
    again = load_module(tiny_ckpt)
    assert all(torch.equal(a, b) for a, b in zip(module.state_dict().values(), again.state_dict().values()))


def test_a_float64_default_dtype_loads_float32_weights_and_answers_as_float32_does(tiny_ckpt):
    """torch.set_default_dtype(torch.float64), as a notebook of numerical work may set it, built the loaded module with
    float64 weights, which every inference call refused ("model parameters are float64 ... call .float()"); with
    float32 weights, complete's float64 grid met float32 S in "ctx_pos and qry_pos must share one dtype", and the
    samples' random numbers were float64 draws: other samples for the same seed."""
    pos = torch.linspace(-0.9, 0.8, 6).view(1, 6, 1)  # [1, 6, 1]
    val = torch.linspace(-1.0, 2.0, 6).view(1, 6, 1)  # [1, 6, 1]
    module = load_module(tiny_ckpt)
    want = module.complete(pos, val, 16, num_samples=2, n_autoregressive=4, seed=3)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        module = load_module(tiny_ckpt)
        assert next(module.parameters()).dtype == torch.float32
        got = module.complete(pos, val, 16, num_samples=2, n_autoregressive=4, seed=3)
        mean = module.mean_field(pos, val, pos)  # [1, 6, 1]
    finally:
        torch.set_default_dtype(default)
    assert torch.equal(got.mean, want.mean) and torch.equal(got.samples, want.samples)
    assert torch.equal(mean, module.mean_field(pos, val, pos))


def test_the_device_check_works_without_torch_accelerator(monkeypatch):
    """torch.accelerator came with torch 2.6; the supported torch >= 2.4 asks CUDA itself."""
    from pixeltransformer.loading import accelerator, check_device

    monkeypatch.delattr(torch, "accelerator")
    here = ("cuda", torch.cuda.device_count()) if torch.cuda.is_available() else (None, 0)
    assert accelerator() == here
    if here[0] is None:
        with pytest.raises(ValueError, match=r"^map_location='cuda': this machine has no CUDA device \(use 'cpu'\)$"):
            check_device("cuda")


@pytest.mark.parametrize("here, name, refused", [
    ((None, 0), "gpu", True), ((None, 0), "cuda", True), (("mps", 1), "cuda", True), (("cuda", 0), "gpu", True),
    ((None, 0), "mps", True),
    (("cuda", 2), "gpu", False), (("mps", 1), "gpu", False), (("cuda", 1), "cuda", False), ((None, 0), "cpu", False),
    ((None, 0), "auto", False), ((None, 0), None, False)])
def test_an_accelerator_this_machine_lacks_is_one_line(monkeypatch, here, name, refused):
    """trainer.accelerator=gpu on a machine without one stopped in Lightning's "No supported gpu backend found!", which
    names neither the setting nor what to do."""
    from pixeltransformer import loading

    monkeypatch.setattr(loading, "accelerator", lambda: here)
    if not refused:
        loading.check_accelerator(name, None)
        return
    # configs/trainer/gpu.yaml says gpu: leaving it out helps there, and not where the command line says cuda or mps
    todo = (r"leave out configs/trainer/gpu.yaml" if name == "gpu" else
            r"give --trainer.accelerator=cpu \(a config for several devices: also --trainer.devices=1 "
            r"--trainer.strategy=auto\)")
    with pytest.raises(ValueError, match=rf"^trainer.accelerator={name}, but torch sees no .* device here \(torch "
                                         rf".*\): to run on the CPU, {todo}$"):
        loading.check_accelerator(name, None if name != "gpu" else str(REPO / "configs/trainer/gpu.yaml"))


@pytest.mark.parametrize("xla", [False, True])
def test_a_tpu_without_torch_xla_is_one_line(monkeypatch, xla):
    """trainer.accelerator=tpu without torch_xla stopped in a ModuleNotFoundError's traceback from Lightning's
    accelerator registry ("Requirement 'torch_xla>=1.13' not met")."""
    from pixeltransformer import loading

    monkeypatch.setattr(loading, "find_spec", lambda name: object() if xla and name == "torch_xla" else None)
    if xla:
        loading.check_accelerator("tpu", None)
        return
    with pytest.raises(ValueError, match=r"^trainer.accelerator=tpu, but torch_xla, which Lightning runs TPUs with, is "
                                         r"not installed here: to run on the CPU, give --trainer.accelerator=cpu \(a "
                                         r"config for several devices: also --trainer.devices=1 "
                                         r"--trainer.strategy=auto\)$"):
        loading.check_accelerator("tpu", None)


@pytest.mark.parametrize("cuda, hip, mps, hidden, says", [
    ("12.4", None, False, "", "built for CUDA 12.4; CUDA_VISIBLE_DEVICES='' leaves none visible"),
    ("12.4", None, False, None, "built for CUDA 12.4"),
    (None, "6.2.4", False, None, "built for ROCm 6.2.4"),
    (None, None, True, None, "built with MPS"),
    (None, None, False, None, "a CPU build")])
def test_a_missing_accelerator_names_the_torch_build_and_what_hides_the_gpus(monkeypatch, cuda, hip, mps, hidden, says):
    """A ROCm or MPS build was called "a CPU build"; a CUDA machine whose CUDA_VISIBLE_DEVICES hides every GPU was
    told only that torch sees none."""
    from pixeltransformer import loading

    monkeypatch.setattr(loading, "accelerator", lambda: ("cuda", 0) if cuda or hip else ("mps", 0) if mps else (None, 0))
    monkeypatch.setattr(torch.version, "cuda", cuda)
    monkeypatch.setattr(torch.version, "hip", hip, raising=False)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: mps)
    if hidden is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    with pytest.raises(ValueError, match=rf"^trainer.accelerator=gpu, but torch sees no GPU device here \(torch "
                                         rf"[^,]+, {re.escape(says)}\): to run on the CPU, leave out "
                                         r"configs/trainer/gpu.yaml$"):
        loading.check_accelerator("gpu", str(REPO / "configs/trainer/gpu.yaml"))


def test_a_gpu_the_command_line_asks_for_is_refused_naming_the_option_not_the_gpu_config(tmp_path, monkeypatch):
    """--trainer.accelerator gpu on a machine without one was told to "leave out configs/trainer/gpu.yaml", which the
    command did not give; the remedy names the option given. A config file that asks for it is still named."""
    from pixeltransformer import loading
    from pixeltransformer.cli import main

    monkeypatch.setattr(loading, "accelerator", lambda: (None, 0))
    fit = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path)]
    with pytest.raises(ValueError, match=r"^trainer.accelerator=gpu, but torch sees no GPU device here \(torch "
                                         r"[^)]+\): to run on the CPU, give --trainer.accelerator=cpu \(a config for "
                                         r"several devices: also --trainer.devices=1 --trainer.strategy=auto\)$"):
        main([*fit, "--trainer.accelerator", "gpu"])
    with pytest.raises(ValueError, match=r"to run on the CPU, leave out configs/trainer/gpu.yaml"):
        main([*fit, "--config", str(REPO / "configs/trainer/gpu.yaml")])
    assert not (tmp_path / "polynomial").exists()


def test_a_gpu_a_config_after_the_option_asks_for_is_refused_naming_the_config(tmp_path, monkeypatch):
    """--trainer.accelerator cpu before --config configs/trainer/gpu.yaml (whose gpu is the value used) was told to
    "give --trainer.accelerator=cpu", which it gave: the remedy follows the last source that sets the accelerator."""
    from pixeltransformer import loading
    from pixeltransformer.cli import main

    monkeypatch.setattr(loading, "accelerator", lambda: (None, 0))
    fit = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path)]
    with pytest.raises(ValueError, match=r"to run on the CPU, leave out configs/trainer/gpu.yaml$"):
        main([*fit, "--trainer.accelerator", "cpu", "--config", str(REPO / "configs/trainer/gpu.yaml")])
    with pytest.raises(ValueError, match=r"to run on the CPU, give --trainer.accelerator=cpu \(a config"):
        main([*fit, "--config", str(REPO / "configs/trainer/gpu.yaml"), "--trainer.accelerator", "gpu"])
    assert not (tmp_path / "polynomial").exists()


def test_a_gpu_a_config_of_ones_own_asks_for_is_refused_naming_that_config(tmp_path, monkeypatch):
    """trainer.accelerator=gpu from one's own config file (mine.yaml) on a machine without a GPU was told to "leave out
    configs/trainer/gpu.yaml", which the command did not give: the line names the file that set it, to override by
    options given after it (leaving out an experiment's whole config, or a run's config.yaml, loses its other
    options)."""
    from pixeltransformer import loading
    from pixeltransformer.cli import main

    monkeypatch.setattr(loading, "accelerator", lambda: (None, 0))
    (mine := tmp_path / "mine.yaml").write_text("trainer: {accelerator: gpu, max_steps: 5}\n")
    with pytest.raises(ValueError, match=r"\): to run on the CPU, give --trainer.accelerator=cpu --trainer.devices=1 "
                                         rf"--trainer.strategy=auto after {re.escape(str(mine))}, which sets it$"):
        main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(mine), "--run_root",
              str(tmp_path)])
    assert not (tmp_path / "polynomial").exists()
    (run := tmp_path / "r" / "checkpoints").mkdir(parents=True)
    (config := run.parent / "config.yaml").write_text("trainer: {accelerator: gpu}\n")
    with pytest.raises(ValueError, match=r"\): to run on the CPU, give --trainer.accelerator=cpu --trainer.devices=1 "
                                         rf"--trainer.strategy=auto after {re.escape(str(config))}, which sets it$"):
        loading.check_accelerator("gpu", str(config))


@pytest.mark.parametrize("accelerator, why, from_file", [
    (None, r"torch sees no GPU device here \(torch [^)]+\)", False),
    ("cpu", "trainer.accelerator=cpu runs on the CPU", False),
    (None, r"torch sees no GPU device here \(torch [^)]+\)", True)])
def test_fsdp_on_the_cpu_is_refused_naming_a_strategy_the_cpu_runs(tmp_path, monkeypatch, accelerator, why, from_file):
    """--trainer.strategy fsdp on a machine without a GPU got Lightning's "requires a GPU accelerator, but received
    `accelerator='cpu'`. Please set `accelerator='cuda'`", though the command set no accelerator, and one set to gpu
    is refused there for want of a GPU: the line names the strategies the CPU runs. fsdp from a config file (a run's
    config.yaml too) was told to "leave out --trainer.strategy", which the command did not give: it is told to give
    --trainer.strategy=auto."""
    from pixeltransformer import loading
    from pixeltransformer.cli import main

    monkeypatch.setattr(loading, "accelerator", lambda: (None, 0))
    fit = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path)]
    chosen = ["--trainer.accelerator", accelerator] if accelerator else []
    (fsdp := tmp_path / "fsdp.yaml").write_text("trainer:\n  strategy: fsdp\n")
    strategy = ["--config", str(fsdp)] if from_file else ["--trainer.strategy", "fsdp"]
    with pytest.raises(ValueError, match=rf"^trainer.strategy=fsdp shards a model across GPUs, and {why}: give "
                                         r"--trainer.strategy=ddp for several processes on the CPU \(--trainer.devices "
                                         r"N\), or give --trainer.strategy=auto for one$"):
        main([*fit, *strategy, *chosen])
    assert not (tmp_path / "polynomial").exists()


def test_a_torchrun_launch_larger_than_the_trainer_is_refused_in_one_line(tmp_path, monkeypatch):
    """torchrun --nproc-per-node 2 with the CPU's default of one device: each process trained alone into the same run
    folder, and the second stopped at W&B with a traceback ('function' object has no attribute 'update')."""
    from pixeltransformer.cli import main
    from pixeltransformer.launch import LAUNCHER_VARIABLES, check_launch_size

    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    check_launch_size(1)  # one process, not launched
    monkeypatch.setenv("RANK", "0"), monkeypatch.setenv("WORLD_SIZE", "2")
    check_launch_size(1)  # another launcher's variables (a Kubeflow pod's): not torchrun's
    for name, value in {"RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0", "WORLD_SIZE": "2",
                        "LOCAL_WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "t1"}.items():
        monkeypatch.setenv(name, value)
    check_launch_size(2)  # a trainer of two processes, as launched
    with pytest.raises(ValueError, match=r"^torchrun started 2 processes, but the trainer runs 1 \(trainer.devices x "
                                         r"trainer.num_nodes\): give --trainer.devices=2 --trainer.num_nodes=1 "
                                         r"--trainer.strategy=ddp, or configs/trainer/gpu.yaml on GPUs$"):
        main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path),
              "--trainer.accelerator=cpu", "--trainer.max_steps=2"])
    assert not (tmp_path / "polynomial").exists()  # the run folder it named is not kept


def test_truncated_checkpoint_gives_one_line_error(tmp_path, tiny_ckpt):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(tiny_ckpt.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_a_folder_given_as_a_checkpoint_names_the_checkpoint_in_it(tmp_path, monkeypatch):
    """``--ckpt_path runs/polynomial/r`` (a run folder, or its checkpoints/) said only "is a folder, not a checkpoint
    file": the line names the checkpoint in it to give, and for a run folder the resume that continues it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs/polynomial/r/checkpoints").mkdir(parents=True)
    (tmp_path / "runs/polynomial/r/checkpoints/best-step000004.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"^runs/polynomial/r/checkpoints is a folder, not a checkpoint file: "
                                              r"give one in it, as "
                                              r"runs/polynomial/r/checkpoints/best-step000004\.ckpt$"):
        load_checkpoint("runs/polynomial/r/checkpoints")
    (tmp_path / "runs/polynomial/r/checkpoints/last.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"^runs/polynomial/r is a folder, not a checkpoint file: give one in "
                                              r"it, as runs/polynomial/r/checkpoints/last\.ckpt \(to continue the "
                                              r"run: fit --resume runs/polynomial/r\)$"):
        load_checkpoint("runs/polynomial/r")
    with pytest.raises(CheckpointError, match=r"^runs is a folder, not a checkpoint file$"):
        load_checkpoint("runs")


@pytest.mark.parametrize("path", [3, None, ["last.ckpt"]])
def test_a_checkpoint_path_that_is_not_a_path_is_one_line(path):
    """load_module(3) stopped in pathlib's "expected str, bytes or os.PathLike object, not int"."""
    with pytest.raises(CheckpointError, match=r"^a checkpoint is a file path \(str or Path\), got \w+ "):
        load_module(path)


def test_checkpoint_with_flipped_bytes_is_refused_naming_the_damaged_member(tmp_path):
    """torch.load does not check the archive's CRCs: a flipped byte inside a tensor would load as another weight."""
    weights = torch.arange(256, dtype=torch.float32)  # [256]
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": weights}, "hyper_parameters": {}}, good)
    for mmap in (False, True):
        assert torch.equal(load_checkpoint(good, mmap=mmap)["state_dict"]["w"], weights)
    raw = bytearray(good.read_bytes())
    at = raw.find(weights.numpy().tobytes())
    raw[at + 400] ^= 0x40  # one bit of one float, in the middle of the tensor's storage
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(bytes(raw))
    for mmap in (False, True):
        with pytest.raises(CheckpointError, match=rf"^cannot read checkpoint {bad}: corrupted \(CRC mismatch in "
                                                  r"good/data/0\)$"):
            load_checkpoint(bad, mmap=mmap)


@pytest.mark.skipif(not hasattr(torch.serialization, "set_crc32_options"),
                    reason="this torch has no switch to save without CRCs")
def test_a_checkpoint_saved_without_crcs_loads(tmp_path):
    """A checkpoint saved with torch's CRCs off (torch.serialization.set_crc32_options) has nothing to check,
    and loads."""
    weights = torch.arange(256, dtype=torch.float32)  # [256]
    unchecked = tmp_path / "unchecked.ckpt"
    before = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(False)
    try:
        torch.save({"state_dict": {"w": weights}, "hyper_parameters": {}}, unchecked)
    finally:
        torch.serialization.set_crc32_options(before)
    with zipfile.ZipFile(unchecked) as archive:
        assert not any(info.CRC for info in archive.infolist())
    assert torch.equal(load_checkpoint(unchecked)["state_dict"]["w"], weights)


def test_incompatible_checkpoint_version_is_refused(tmp_path, tiny_ckpt):
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["pixeltransformer_format"] = 99
    old = tmp_path / "old.ckpt"
    torch.save(ckpt, old)
    with pytest.raises(CheckpointError, match="format 99"):
        load_module(old)


def test_a_lightning_checkpoint_of_another_model_is_named(tmp_path, tiny_module):
    """A Lightning checkpoint of another project (state_dict and hyper_parameters, no pixeltransformer_format) was
    refused as "checkpoint format None is not supported by this version (expects 2): retrain, or use release 0.1",
    which no release could load either."""
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": torch.nn.Linear(2, 2).state_dict(), "hyper_parameters": {"lr": 1e-3}, "epoch": 0,
                "global_step": 3}, other)
    cause = "not a PixelTransformer checkpoint (it records no pixeltransformer_format: a Lightning checkpoint of " \
            "another model?)"
    with pytest.raises(CheckpointError) as caught:
        load_module(other)
    assert str(caught.value) == f"{other}: {cause}"
    with pytest.raises(ValueError) as caught:  # as a Trainer's ckpt_path meets it
        tiny_module.check_checkpoint(torch.load(other, weights_only=True))
    assert str(caught.value) == cause


def test_weights_of_another_shape_than_the_hyperparameters_give_are_one_line(tmp_path, tiny_ckpt):
    """Hyperparameters edited after the fit (here the width) stopped in torch's multi-line "Error(s) in loading
    state_dict for PixelTransformerModule: size mismatch for ..." from load_module."""
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["hyper_parameters"]["net"]["width"] = 32
    edited = tmp_path / "edited.ckpt"
    torch.save(ckpt, edited)
    with pytest.raises(CheckpointError) as caught:
        load_module(edited)
    assert re.fullmatch(rf"{re.escape(str(edited))}: weights do not match the model its hyper_parameters describe "
                        r"\(\d+ of another shape, first model\.[\w.]+: \[64(, \d+)*\] in the file, \[32(, \d+)*\] in "
                        r"the model\): an edited or damaged checkpoint; use the file as its run saved it",
                        str(caught.value)), str(caught.value)


def test_checkpoint_from_another_domain_is_refused(tiny_ckpt):
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.signal import SignalSpec

    other = SignalSpec(domain="images", dataset="digits", grid_shape=(8, 8), val_dims=1, val_range=(0, 1), num_bins=32)
    module = PixelTransformerModule(spec=other, net=dict(width=64, ffn=128))
    with pytest.raises(ValueError, match="checkpoint is for polynomial/polynomial"):
        module.on_load_checkpoint(torch.load(tiny_ckpt, weights_only=True))


def test_format_1_checkpoint_is_refused_in_one_line(tiny_module):
    """A checkpoint of the flat option list (format 1) is refused by name, whatever its hyperparameters hold."""
    flat = {"spec": tiny_module.spec.to_dict(), "preset": "tiny", "encoder": "buffered", "max_context": 10}
    ckpt = {"state_dict": tiny_module.state_dict(), "hyper_parameters": flat, "pixeltransformer_format": 1}
    with pytest.raises(ValueError) as err:
        tiny_module.check_checkpoint(ckpt)
    assert str(err.value) == ("checkpoint format 1 (flat model options) is not supported by this version (expects 2): "
                              "retrain, or use release 0.1")
    tiny_module.check_checkpoint({**ckpt, "hyper_parameters": dict(tiny_module.hparams), "pixeltransformer_format": 2})


@pytest.mark.parametrize("group, key, other", [("net", "width", 96), ("net", "encoder_layers", 3),
                                               ("net", "decoder_layers", 3), ("net", "heads", 8), ("net", "ffn", 64),
                                               ("net", "fourier_features", 16),
                                               ("net", "encoder", "bidirectional"), ("net", "distance_bias", False),
                                               ("net", "value_norm", True), ("objective", "anchor_logits", False),
                                               ("net", "attention_sink", True)])
def test_checkpoint_options_that_change_the_model_must_match(tiny_module, group, key, other):
    hp = {k: dict(v) if isinstance(v, dict) else v for k, v in tiny_module.hparams.items()}
    assert hp[group][key] != other
    hp[group][key] = other
    shown = str(other).lower() if isinstance(other, bool) else other
    with pytest.raises(ValueError, match=rf"^checkpoint was trained with model\.{group}\.{key}={other}; "
                                         rf"pass --model\.{group}\.{key} {shown}$"):
        tiny_module.check_checkpoint({"hyper_parameters": hp, "pixeltransformer_format": 2})


def test_an_option_that_differs_on_other_data_names_the_data_too(tiny_module):
    """A fit from a checkpoint on another dataset's config (configs/polynomial.yaml with a gp_rbf run's checkpoint: a
    new run's --ckpt_path, or trainer.fit(ckpt_path=...) from Python; a resume on other data is refused before this)
    differs in data and model options; the first option that differs is not the whole story: the line names both
    data."""
    hp = {k: dict(v) if isinstance(v, dict) else v for k, v in tiny_module.hparams.items()}
    hp["net"]["distance_bias"] = not hp["net"]["distance_bias"]
    hp["spec"] = {**tiny_module.spec.to_dict(), "dataset": "gp_rbf"}
    mine = f"{tiny_module.spec.domain}/{tiny_module.spec.dataset}"
    with pytest.raises(ValueError, match=rf"^checkpoint was trained with model\.net\.distance_bias=\w+ on "
                                         rf"{tiny_module.spec.domain}/gp_rbf data, but the data is now {mine} "
                                         r"\(other data's config: other model options may differ too\); pass "
                                         r"--model\.net\.distance_bias"):
        tiny_module.check_checkpoint({"hyper_parameters": hp, "pixeltransformer_format": 2})


def test_cli_prints_one_line_error_for_wrong_domain_checkpoint(tiny_ckpt):
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
    spec_args = ["--data.init_args.resolution=32"]  # a different grid: the checkpoint does not fit
    proc = subprocess.run([sys.executable, "-m", "pixeltransformer.cli", "test", "--config", "configs/polynomial.yaml",
                           "--trainer.logger=false", *spec_args, "--ckpt_path", str(tiny_ckpt)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: checkpoint is for polynomial/polynomial with grid_shape=[64]"), proc.stderr[-2000:]


def test_nonfinite_loss_stops_or_skips(tiny_module):
    batch = {"signal": torch.randn(2, 1, 64)}
    tiny_module.train()
    with torch.no_grad():
        tiny_module.model.head.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite training loss .* at global step 0, batch 3"):
        tiny_module.training_step(batch, 3)
    tiny_module.optim_config.nonfinite = "skip"
    assert tiny_module.training_step(batch, 4) is None
    assert tiny_module.skipped_batches == 1


def test_nan_in_a_training_batch_names_the_items(tiny_module):
    signal = torch.randn(2, 1, 64)
    signal[1, 0, 5] = float("inf")
    with pytest.raises(FloatingPointError, match=r"NaN/Inf in the training data .* \(items \[9\]\)"):
        tiny_module.training_step({"signal": signal, "index": torch.tensor([7, 9])}, 0)


def test_nan_in_validation_or_test_data_is_named_not_left_out(tiny_module):
    """A validation (and the test loop, which scores the same way) left items with NaN data out of val/nll with
    torchmetrics' generic warning, so a split with broken items scored as if it had only the others."""
    signal = torch.randn(3, 1, 64)  # [B, V, N]
    signal[2, 0, 7] = float("nan")
    with pytest.raises(FloatingPointError, match=r"^NaN/Inf in the validation data at global step 0, batch 1 "
                       r"\(items \[12\]\)$"):
        tiny_module.validation_step({"signal": signal, "index": torch.tensor([10, 11, 12])}, 1)
    tiny_module.on_validation_epoch_start()
    real = tiny_module.nll_per_dim

    def nan_for_the_second(params, value):  # a NaN NLL from the model itself
        nll = real(params, value)  # [B, Q]
        nll[1] = float("nan")
        return nll

    tiny_module.nll_per_dim = nan_for_the_second
    tiny_module.validation_step({"signal": torch.randn(2, 1, 64), "index": torch.tensor([3, 4])}, 0)
    # not the first item's NLL alone: each level's mean says so, and no best checkpoint is chosen by it
    assert all(math.isnan(value) for value in tiny_module.val_nll_means().values())


def test_k_larger_than_positions():
    with pytest.raises(ValueError, match="larger than the 64 grid points"):
        SetSampler(4, 100, 8, grid_points=True)(torch.zeros(1, 1, 8, 8), torch.Generator(), num_context=65)


def test_a_checkpoint_with_nan_weights_is_refused(tmp_path, tiny_ckpt):
    """A diverged run's checkpoint loaded, and every mean and sample it gave was NaN (an evaluation wrote a
    metrics.json of nulls, with status 0)."""
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["state_dict"]["model.head.bias"][0] = float("inf")
    bad = tmp_path / "diverged.ckpt"
    torch.save(ckpt, bad)
    with pytest.raises(CheckpointError, match=r"refusing .*diverged\.ckpt: its weights hold NaN or Inf \(1 of \d+ "
                       r"tensors, first model\.head\.bias\): the training had diverged when it was saved"):
        load_module(bad)
    with pytest.raises(CheckpointError, match="its weights hold NaN or Inf"):
        load_checkpoint(bad, mmap=True)  # as the commands check a checkpoint before they start
