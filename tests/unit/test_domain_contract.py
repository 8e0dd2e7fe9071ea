"""A domain written outside the repository, the way a newcomer gets it wrong: each mistake is named in one line
where it is made (the DataModule, the Domain, its files), not met later as a traceback from the core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from pixeltransformer.datamodule import SignalDataModule
from pixeltransformer.domain import Domain
from pixeltransformer.errors import InputExit, fail
from pixeltransformer.signal import SignalSpec

GRID = (6, 5)
SPEC = SignalSpec(domain="heights", dataset="toy", grid_shape=GRID, val_dims=1, val_range=(-1.0, 1.0))


class Heights(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        return {"signal": torch.full((1, *GRID), i / 4)}  # [1, 6, 5]


class HeightData(SignalDataModule):
    spec = SPEC

    def build_split(self, split: str) -> Dataset:
        return Heights()


class HeightDomain(Domain):
    name = "heights"

    def read_input(self, path: Path, spec: SignalSpec) -> torch.Tensor:
        return torch.zeros(GRID)  # [6, 5]: the value axis forgotten


def test_a_datamodule_without_spec_or_build_split_is_named_when_built():
    class OnlySpec(SignalDataModule):
        spec = SPEC

    class OnlySplits(SignalDataModule):
        def build_split(self, split):
            return Heights()

    with pytest.raises(ValueError, match=r"^OnlySpec does not define build_split\(split\) .*Adding a domain\)$"):
        OnlySpec()
    with pytest.raises(ValueError, match=r"^OnlySplits does not define spec \(a property returning its SignalSpec\)"):
        OnlySplits()
    HeightData()  # both given


def test_a_spec_that_is_not_a_signal_spec_is_named():
    from pixeltransformer.cli import data_spec

    class Method(HeightData):
        def spec(self):  # @property forgotten
            return SPEC

    with pytest.raises(ValueError, match=r"^Method\.spec must be a SignalSpec, got method: make spec a @property$"):
        data_spec(Method())
    with pytest.raises(ValueError, match=r"^Method\.spec must be a SignalSpec"):
        Method().dataset("train")
    assert data_spec(HeightData())["grid_shape"] == list(GRID)


def test_a_split_that_build_split_forgets_is_named():
    class NoneForTest(HeightData):
        def build_split(self, split):
            return None if split == "test" else Heights()

    class DictOfTwo(HeightData):
        def build_split(self, split):
            return {"train": Heights(), "val": Heights()}[split]

    class Buggy(HeightData):
        def build_split(self, split):
            return {"train": Heights()}["tain"]  # a KeyError of the domain's own: kept as it is

    assert len(NoneForTest().dataset("train")) == 4
    with pytest.raises(ValueError, match=r"^NoneForTest\.build_split\('test'\) returned NoneType: it must return a "
                                         r"dataset \(len\(\) and \[i\]\) for each of train, val, test$"):
        NoneForTest().dataset("test")
    with pytest.raises(ValueError, match=r"^DictOfTwo\.build_split\('test'\) has no test split \(KeyError 'test'\)"):
        DictOfTwo().dataset("test")
    with pytest.raises(KeyError, match="tain"):
        Buggy().dataset("train")


def test_pictures_that_return_no_files_are_named(tmp_path):
    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule

    class Forgetful(HeightDomain):
        def pictures(self, completions, out_dir, suffix=""):
            (out_dir / "means.txt").write_text("drawn")  # and the return forgotten

    module = PixelTransformerModule(spec=SPEC, domain=Forgetful(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1)).eval()
    signal = torch.rand(1, 1, *GRID) * 2 - 1  # [1, 1, 6, 5]
    pictures = Pictures(num_examples=1, levels=(3,), num_samples=0)
    with pytest.raises(ValueError, match=r"^Forgetful\.pictures returned NoneType: it must return \{name: file or "
                                         r"list of files\} \(\{\} when it draws nothing\)$"):
        pictures.draw(module, signal, tmp_path)
    module.domain = HeightDomain()
    module.domain.spec = SPEC
    assert pictures.draw(module, signal, tmp_path) == {}  # the default draws nothing


def test_a_domain_name_is_one_class():
    def domain_class(module: str, name: str, base: type = Domain) -> type:
        return type("Terrain", (base,), {"name": name, "__module__": module, "__qualname__": "Terrain"})

    first = domain_class("labs.terrain.domain", "terrain_contract")
    assert Domain.registry["terrain_contract"] is first
    again = domain_class("labs.terrain.domain", "terrain_contract")  # the same module imported again (a reload)
    assert Domain.registry["terrain_contract"] is again
    with pytest.raises(ValueError, match=r"^Domain name 'terrain_contract' of other\.domain\.Terrain is taken by "
                                         r"labs\.terrain\.domain\.Terrain: give the new domain a name of its own$"):
        domain_class("other.domain", "terrain_contract")
    tweaked = type("Tweaked", (again,), {"__module__": "mine"})  # a subclass keeping its parent's name
    assert Domain.registry["terrain_contract"] is again and tweaked.name == "terrain_contract"


def test_a_built_in_domain_name_is_refused_outside_its_folder(monkeypatch):
    """A class of one's own named as a built-in domain is refused: when it is defined, where the built-in is loaded,
    and where it is not, when the CLI reads the config's class path (domain_of)."""
    import sys

    import domains.images.domain  # noqa: F401  the built-in, loaded as by any command that reads pictures
    from pixeltransformer.runs import domain_of

    def images_class() -> type:
        return type("Images", (HeightDomain,), {"name": "images", "__module__": __name__, "__qualname__": "Images"})

    with pytest.raises(ValueError, match=rf"^Domain name 'images' of {__name__}\.Images is taken by "
                                         r"domains\.images\.domain\.ImageDomain: give the new domain a name of its own$"):
        images_class()
    assert domain_of(f"{__name__}.HeightDomain") == "heights"
    monkeypatch.delitem(Domain.registry, "images")  # the built-in not loaded (put back after the test)
    monkeypatch.setattr(sys.modules[__name__], "Images", images_class(), raising=False)
    with pytest.raises(ValueError, match=rf"^{__name__}\.Images: the domain name 'images' is a built-in domain's "
                                         r"\(configs/images\.yaml\): give yours a name of its own$"):
        domain_of(f"{__name__}.Images")


def test_a_test_module_defines_no_domain_of_a_built_in_name():
    """Importing the built-in domains after this module (as the whole suite does) meets no class of their names."""
    import importlib

    for name in ("images", "polynomial", "sdf", "video"):
        importlib.import_module(f"domains.{name}.domain")
        assert Domain.registry[name].__module__ == f"domains.{name}.domain"


def test_read_input_of_another_shape_than_the_models_is_named(tmp_path):
    from pixeltransformer.predict import PredictOptions, prediction_item

    user = tmp_path / "hill.npy"
    user.write_bytes(b"")
    options = PredictOptions(input=str(user), num_context=4)
    with pytest.raises(ValueError, match=r"^HeightDomain\.read_input returned a tensor of shape \[6, 5\]; the model's "
                                         r"signals are \[V, \*grid\] = \[1, 6, 5\]$"):
        prediction_item(HeightDomain(), SPEC, options)


def _draw_tiles(rows):
    return np.concatenate([np.zeros(3) for _ in rows], axis=1)  # a 1-d tile: numpy's AxisError, in this file


def _refuse(path):
    raise ValueError(f"{path}: not a height map")


def test_an_error_a_library_raised_in_the_users_code_says_where():
    """A bug in a domain of the user's own (numpy refusing an axis in its pictures) is one line, as bad input is, but
    names the user's line that met it; a message the user raised, or this project's, stays as written."""
    with pytest.raises(ValueError) as bug:
        _draw_tiles([1, 2])
    with pytest.raises(InputExit) as shown:
        fail(bug.value)
    line = _draw_tiles.__code__.co_firstlineno + 1
    assert str(shown.value) == (f"error: axis 1 is out of bounds for array of dimension 1 (raised in {__file__}:{line},"
                                " in _draw_tiles; the traceback with PIXELTRANSFORMER_DEBUG=1)")
    with pytest.raises(ValueError) as own:
        _refuse("hill.npy")
    with pytest.raises(InputExit) as shown:
        fail(own.value)
    assert str(shown.value) == "error: hill.npy: not a height map"
    with pytest.raises(ValueError) as core:
        SignalSpec(domain="x", dataset="y", grid_shape=(), val_dims=1, val_range=(0, 1))
    with pytest.raises(InputExit) as shown:
        fail(core.value)
    assert str(shown.value) == "error: SignalSpec: grid_shape must have 1 to 3 axes, got ()"


def test_a_checkpoint_of_a_domain_of_the_users_own_points_to_its_run_config():
    from pixeltransformer.cli import data_hint, own_data

    saved = {"domain": "heights", "dataset": "toy"}
    assert data_hint(saved) == data_hint(saved, predict=True) == " (use the config.yaml of its run folder)"
    assert own_data(saved) == "heights/toy"
    assert data_hint({"domain": "images", "dataset": "mnist"}) == (
        " (use its own data: DOMAIN=images DATA=mnist, or the config.yaml of its run folder)")


def test_the_modules_spec_names_the_folder_read_and_an_evaluation_of_another_goes_beside(tmp_path):
    """A domain of the user's own that reads its root: the module's spec names the folder by its last part (which
    moving the data keeps), and an evaluation on a folder of another name writes beside the run's own eval/; a
    checkpoint that named no folder (written before) evaluates into eval/ as it did."""
    from pixeltransformer.datamodule import module_spec
    from pixeltransformer.module import PixelTransformerModule

    assert module_spec(HeightData(root=str(tmp_path / "maps" / "alps") + "/")).extra == {"source": "alps"}
    assert SPEC.extra == {}  # the DataModule's own spec is the domain's
    assert "source" not in module_spec(HeightData()).extra and "source" not in module_spec(HeightData(root="/")).extra
    spec = module_spec(HeightData(root=str(tmp_path / "my maps"))).to_dict()
    module = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1))
    cases = (("toy", None, "eval"), ("toy", "my maps", "eval"), ("toy", "alps", "eval-toy-my_maps"),
             ("other", "my maps", "eval-toy"))
    for dataset, source, folder in cases:
        module.trained_dataset, module.trained_source = dataset, source
        assert module.eval_folder() == folder, (dataset, source)
