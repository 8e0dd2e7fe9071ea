"""A domain written outside the repository, the way a newcomer gets it wrong: each mistake is named in one line
where it is made (the DataModule, the Domain, its files), not met later as a traceback from the core."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from pixeltransformer.datamodule import SignalDataModule
from pixeltransformer.domain import Domain
from pixeltransformer.errors import InputExit, fail
from pixeltransformer.signal import SignalSpec
from tests.unit.stand_ins import FITTING, loop_reading

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


class DrawnHeights(HeightDomain):
    """A domain that draws (a pictures() of its own): the Pictures callback completes and checks its contexts."""

    def pictures(self, completions, out_dir, suffix=""):
        return {}


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


def test_a_custom_domain_s_root_options_are_its_data_places_kept_as_a_str_too(tmp_path, monkeypatch):
    """The [run] line and the W&B config name a custom domain's root and *_root options (data_places), absolute,
    whether it keeps them as a Path or as the str given (a str one was skipped); an empty one names nothing."""
    class Labelled(HeightData):
        def __init__(self, label_root: str, image_root: str, **kwargs):
            super().__init__(**kwargs)
            self.label_root, self.image_root = label_root, image_root

    monkeypatch.chdir(tmp_path)
    dm = Labelled("labels", "", root="heights")
    assert dm.data_places() == {"root": tmp_path / "heights", "label_root": tmp_path / "labels"}


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


def test_a_pictures_callback_of_a_domain_that_draws_nothing_says_so_as_the_fit_starts(recwarn):
    """A domain without pictures() of its own (visualize.py forgotten) under the Pictures callback ended its fit
    with no pictures/ and no word of why."""
    from types import SimpleNamespace

    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule

    class Drawn(HeightDomain):
        def pictures(self, completions, out_dir, suffix=""):
            return {}

    module = PixelTransformerModule(spec=SPEC, domain=HeightDomain(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1)).eval()
    trainer = SimpleNamespace(is_global_zero=True, limit_val_batches=1.0, datamodule=HeightData(), state=FITTING)
    with pytest.warns(UserWarning, match=r"^HeightDomain draws no pictures \(it defines no pictures\(completions, "
                                         r"out_dir, suffix\)\): the Pictures callback writes none; define it, or "
                                         r"leave the callback out of trainer\.callbacks$"):
        Pictures(levels=(3,), num_samples=0).on_fit_start(trainer, module)
    completed = []
    module.complete = lambda *args, **kwargs: completed.append(args)  # what a draw would sample at each validation
    assert Pictures(levels=(3,), num_samples=0).draw(module, torch.zeros(1, 1, *SPEC.grid_shape), Path("unused")) == {}
    assert completed == []
    module.domain = Drawn()
    module.domain.spec = SPEC
    recwarn.clear()
    Pictures(levels=(3,), num_samples=0).on_fit_start(trainer, module)
    assert not [w for w in recwarn if "draws no pictures" in str(w.message)]


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


@pytest.mark.parametrize("source, cause", [
    ("def broken(:\n", r"SyntaxError: invalid syntax \(mod\.py, line 1\)$"),
    ("undefined_name\n", r"NameError: name 'undefined_name' is not defined \(python -c 'import brokenpkg\.mod' shows "
                          r"where\)$")])
def test_a_config_naming_a_domain_whose_module_fails_names_the_cause(tmp_path, monkeypatch, source, cause):
    """A config file naming a domain class whose module has a bug of its own (a SyntaxError, a NameError) ended in
    the traceback of runs.domain_of, which the CLI calls to name the run folder."""
    import sys

    from pixeltransformer.runs import domain_of

    (tmp_path / "brokenpkg").mkdir()
    (tmp_path / "brokenpkg" / "__init__.py").write_text("")
    (tmp_path / "brokenpkg" / "mod.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("brokenpkg", "brokenpkg.mod"):  # the other case's package, found first otherwise
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(ValueError, match=r"^model\.domain: brokenpkg\.mod\.X: " + cause):
        domain_of("brokenpkg.mod.X")
    assert domain_of("brokenpkg.missing.X") == "custom"  # no such module: the CLI's parser says so


def test_a_test_module_defines_no_domain_of_a_built_in_name():
    """Importing the built-in domains after this module (as the whole suite does) meets no class of their names."""
    import importlib

    for name in ("images", "polynomial", "sdf", "video"):
        importlib.import_module(f"domains.{name}.domain")
        assert Domain.registry[name].__module__ == f"domains.{name}.domain"


def file_to_predict(folder: Path):
    """PredictOptions of an empty input file in folder: the test domains' read_input makes its signal."""
    from pixeltransformer.predict import PredictOptions

    user = folder / "hill.npy"
    user.write_bytes(b"")
    return PredictOptions(input=str(user), num_context=4)


def test_read_input_of_another_shape_than_the_models_is_named(tmp_path):
    from pixeltransformer.predict import prediction_item

    options = file_to_predict(tmp_path)
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
    from pixeltransformer.datahints import data_hint, own_data

    saved = {"domain": "heights", "dataset": "toy"}
    assert data_hint(saved) == data_hint(saved, predict=True) == " (use the config.yaml of its run folder)"
    assert own_data(saved) == "heights/toy"
    assert data_hint({"domain": "images", "dataset": "mnist"}) == (
        " (use its own data: DOMAIN=images DATA=mnist, or the config.yaml of its run folder)")


def test_a_checkpoint_of_an_overlay_named_otherwise_than_its_dataset_is_pointed_to_that_overlay():
    """make eval DOMAIN=video CKPT=... of a DATA=beach run (whose dataset is "npz") said "use its own data:
    DOMAIN=video": the DOMAIN= given already, without the DATA= that reads the run's data."""
    from pixeltransformer.datahints import data_hint, own_data

    assert data_hint({"domain": "video", "dataset": "npz"}) == (
        " (use its own data: DOMAIN=video DATA=beach, or the config.yaml of its run folder)")
    assert own_data({"domain": "sdf", "dataset": "mixture"}) == "DOMAIN=sdf DATA=shapenet or DATA=shapenet_paper"
    assert own_data({"domain": "sdf", "dataset": "procedural"}) == "DOMAIN=sdf"  # configs/sdf.yaml's own


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


def test_signals_of_other_channels_than_the_spec_are_named_at_the_first_item():
    """More value channels than the spec's V went on to the model (the core's sampler reads them all) and failed in
    its first step as sets of mismatched widths; a transposed grid or a missing value axis was named already."""
    class RGB(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> dict:
            return {"signal": torch.zeros(3, *GRID)}  # [3, 6, 5]: RGB, where the spec says V = 1

    class RGBData(HeightData):
        def build_split(self, split):
            return RGB()

    with pytest.raises(ValueError, match=r"^RGBData: the train split yields signals of shape \[3, 6, 5\], but its "
                                         r"spec says \[V, \*grid_shape\] = \[1, 6, 5\]$"):
        RGBData().dataset("train")
    assert len(HeightData().dataset("train")) == 4


def test_signals_with_their_value_axis_last_are_told_to_move_it_first():
    class Last(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> dict:
            return {"signal": torch.zeros(*GRID, 1)}  # [6, 5, 1]: [*grid, V], as images are often stored

    class LastData(HeightData):
        def build_split(self, split):
            return Last()

    with pytest.raises(ValueError, match=r"^LastData: the train split yields signals of shape \[6, 5, 1\], but its "
                                         r"spec says \[V, \*grid_shape\] = \[1, 6, 5\]: the value axis comes last; "
                                         r"move it first \(signal\.movedim\(-1, 0\)\)$"):
        LastData().dataset("train")

    class Batched(Last):
        def __getitem__(self, i: int) -> dict:
            return {"signal": torch.zeros(1, *GRID)}  # [1, 6, 5]

        def __getitems__(self, indices: list[int]) -> dict:
            return {"signal": torch.zeros(len(indices), *GRID, 1)}  # [B, 6, 5, 1]

    class BatchedData(HeightData):
        def build_split(self, split):
            return Batched()

    with pytest.raises(ValueError, match=r"^BatchedData: the train split's __getitems__\(\[0\]\) returns signals of "
                                         r"shape \[1, 6, 5, 1\], but its spec says \[B, V, \*grid_shape\] = "
                                         r"\[1, 1, 6, 5\]: the value axis comes last; move it after the batch's "
                                         r"\(signal\.movedim\(-1, 1\)\)$"):
        BatchedData().dataset("train")


def test_items_and_batches_of_the_wrong_structure_are_named_when_the_split_is_built():
    """An item that is no dict, or a batch read at once (``__getitems__``) of another layout, is named when the split
    is built, not met as a TypeError in the loader or a KeyError or shape error in the first step."""
    class Pairs(Heights):
        def __getitem__(self, i):
            return super().__getitem__(i)["signal"], i  # (signal, label)

    class Tensors(Heights):
        def __getitems__(self, indices):
            return [self[i]["signal"] for i in indices]  # bare tensors

    class Misnamed(Heights):
        def __getitems__(self, indices):
            return {"values": torch.stack([self[i]["signal"] for i in indices])}  # [B, 1, 6, 5] under another key

    class Flat(Heights):
        def __getitems__(self, indices):
            return {"signal": torch.stack([self[i]["signal"][0] for i in indices])}  # [B, 6, 5]: no value axis

    class Whole(Heights):
        def __getitems__(self, indices):
            return {"signal": torch.stack([self[i]["signal"] for i in indices])}  # [B, 1, 6, 5]

    def data(dataset: type) -> SignalDataModule:
        return type(dataset.__name__ + "Data", (HeightData,), {"build_split": lambda self, split: dataset()})()

    for dataset, cause in [
            (Pairs, r"^PairsData: the train split's items must be dicts with a 'signal' tensor \[V, \*grid\], "
                    r"got tuple$"),
            (Tensors, r"^TensorsData: the train split's __getitems__\(\[0\]\) returned a list of Tensor; it must "
                      r"return a list of items"),
            (Misnamed, r"^MisnamedData: the train split's __getitems__\(\[0\]\) returned a dict of \['values'\]; it "
                       r"must return a dict with a 'signal' tensor"),
            (Flat, r"^FlatData: the train split's __getitems__\(\[0\]\) returns signals of shape \[1, 6, 5\], but "
                   r"its spec says \[B, V, \*grid_shape\] = \[1, 1, 6, 5\]$")]:
        with pytest.raises(ValueError, match=cause):
            data(dataset).dataset("train")
    assert data(Whole).dataset("train")[1]["index"] == 1  # a batch of the right layout, each item with its index


def test_a_datamodule_whose_init_skips_the_base_is_named():
    class NoSuper(HeightData):
        def __init__(self, size: int = 4, **kwargs):
            self.size = size  # super().__init__(**kwargs) forgotten

    with pytest.raises(ValueError, match=r"^NoSuper\.__init__ does not call super\(\)\.__init__\(\*\*kwargs\)"):
        str(NoSuper())  # as jsonargparse words a failed link
    with pytest.raises(ValueError, match=r"^NoSuper\.__init__ does not call super"):
        NoSuper().dataset("train")
    assert not hasattr(NoSuper(), "batch_size") and getattr(NoSuper(), "_train_sampler", None) is None
    with pytest.raises(AttributeError, match="no attribute 'other'"):
        HeightData().other  # noqa: B018  any other missing attribute stays Python's

    class Typo(HeightData):
        @property
        def spec(self):
            return self.spek  # the getter's own AttributeError, which __getattr__("spec") would have hidden

    with pytest.raises(AttributeError, match="no attribute 'spek'"):
        Typo().spec  # noqa: B018


def test_init_attributes_are_what_the_base_init_sets():
    """INIT_ATTRIBUTES, the base's attributes whose lookup names a skipped ``super().__init__``, is kept by hand:
    one set in SignalDataModule.__init__ and not listed there met a plain AttributeError instead."""
    import lightning as L

    from pixeltransformer.datamodule import INIT_ATTRIBUTES

    set_by_base = set(vars(HeightData())) - set(vars(L.LightningDataModule()))  # HeightData sets none of its own
    assert set_by_base - INIT_ATTRIBUTES == set(), "set in SignalDataModule.__init__, missing from INIT_ATTRIBUTES"
    assert INIT_ATTRIBUTES - set_by_base == set(), "in INIT_ATTRIBUTES, not set in SignalDataModule.__init__"


def test_an_attribute_that_hides_a_method_of_the_base_is_named_where_it_is_set():
    class Named(HeightData):
        def __init__(self, dataset: str = "toy", **kwargs):
            super().__init__(**kwargs)
            self.dataset = dataset  # the overlays' option, stored under the base's dataset(split)

    with pytest.raises(ValueError, match=r"^Named sets self\.dataset to a str, which hides SignalDataModule\.dataset\(\): "
                                         r"name the attribute otherwise \(self\.dataset_name\)$"):
        Named()

    class Kept(HeightData):
        def __init__(self, size: int = 4, **kwargs):
            super().__init__(**kwargs)
            self.size, self.train_dataloader = size, lambda: None  # an attribute of its own; a method replaced

    assert Kept().size == 4


def test_a_method_named_almost_as_a_contract_method_is_refused_when_defined():
    """``picture`` for ``pictures`` never ran: the base's default drew nothing, without a word. A helper beside the
    contract method it is close to, or named after it, is the author's own."""
    def domain(**methods) -> type:
        return type("Misspelt", (Domain,), {"__module__": "labs.misspelt", "__qualname__": "Misspelt", **methods})

    def draw(self, completions, out_dir, suffix=""):
        return {}

    for wrong, right in (("picture", "pictures"), ("metric", "metrics"), ("read_inputs", "read_input"),
                         ("write_predictions", "write_prediction"), ("context_from_row", "context_from_rows")):
        with pytest.raises(ValueError, match=rf"^labs\.misspelt\.Misspelt\.{wrong} is no Domain method: the core calls "
                                             rf"{right}, so {wrong} would never run \(a helper of your own: name it "
                                             rf"_{wrong}\)$"):
            domain(**{wrong: draw})
    domain(_picture=draw, pictures=draw, draw_grid=draw, name_of=draw)  # helpers of other names, and the contract's
    domain(picture_context=draw, picture_contexts=draw, metric=draw, metrics=draw)  # beside the method it serves
    domain(write_prediction_gif=draw, read_input_header=draw)  # named after it


def test_a_domain_whose_name_is_not_its_datas_names_both_places_to_change():
    from pixeltransformer.domain import resolve_domain

    with pytest.raises(ValueError, match=r"^model\.domain is the 'heights' domain, but the data is 'height': "
                                         r"HeightDomain\.name and the DataModule's SignalSpec\(domain=\.\.\.\) must "
                                         r"be the same name$"):
        resolve_domain(HeightDomain(), dataclasses.replace(SPEC, domain="height"))


def test_a_built_in_domain_given_data_of_its_own_is_told_to_name_the_datas_domain():
    from domains.images.domain import ImageDomain
    from pixeltransformer.domain import resolve_domain

    # configs/images.yaml copied and given one's own data: ImageDomain is not to be renamed
    with pytest.raises(ValueError, match=r"^model\.domain is the 'images' domain, but the data is 'heights': give "
                                         r"model\.domain\.class_path the Domain of the data \(name = 'heights'\)$"):
        resolve_domain(ImageDomain(), SPEC)


def test_a_domain_of_ones_own_given_built_in_data_is_not_told_to_take_the_built_in_name():
    """A Domain of one's own ('heights') given a built-in domain's data ('images') was told that HeightDomain.name and
    the data's SignalSpec(domain=...) must be the same name: renaming the class 'images' is refused as a built-in
    domain's name. It is told to give model.domain the data's Domain, or the data a DataModule of one's own."""
    from pixeltransformer.domain import resolve_domain

    with pytest.raises(ValueError, match=r"^model\.domain is the 'heights' domain, but the data is 'images', a domain "
                                         r"of this repository: give model\.domain\.class_path the data's Domain "
                                         r"\(name = 'images'\), or data\.class_path a DataModule of your own whose "
                                         r"SignalSpec\(domain='heights'\) names HeightDomain$"):
        resolve_domain(HeightDomain(), dataclasses.replace(SPEC, domain="images"))


def test_a_checkpoint_of_a_domain_not_loaded_names_the_import_that_loads_it(monkeypatch):
    from pixeltransformer.domain import resolve_domain

    monkeypatch.delitem(Domain.registry, "video", raising=False)  # not loaded in this process

    with pytest.warns(UserWarning, match=r"no Domain named 'heightz' is loaded, .*: import the module of your own "
                                         r"that its config's model\.domain\.class_path names \(no domain of this "
                                         r"repository is named 'heightz'\)$"):
        resolve_domain(None, dataclasses.replace(SPEC, domain="heightz"))
    with pytest.warns(UserWarning, match=r"no Domain named 'video' is loaded, .*: import domains\.video\.domain$"):
        resolve_domain(None, dataclasses.replace(SPEC, domain="video"))


def test_a_domain_class_without_a_name_is_refused():
    from pixeltransformer.module import PixelTransformerModule

    class Nameless(Domain):  # name forgotten: its runs went to runs/custom/ and its checkpoints named the data's
        pass

    net = dict(width=16, ffn=32, heads=2, encoder_layers=1, decoder_layers=1)
    with pytest.raises(ValueError, match=r"^Nameless has no name: give the class name = 'heights', its data's "
                                         r"SignalSpec\.domain"):
        PixelTransformerModule(spec=SPEC, domain=Nameless(), net=net)
    assert PixelTransformerModule(spec=SPEC, domain=HeightDomain(), net=net).domain.name == "heights"


def test_metrics_that_return_no_dict_are_named():
    from pixeltransformer.evaluation import checked_metrics

    with pytest.raises(ValueError, match=r"^HeightDomain\.metrics returned NoneType: it must return \{name: \[B\] "
                                         r"tensor\} \(\{\} when it has none\)$"):
        checked_metrics(HeightDomain(), None, {"nll"}, 4)
    assert checked_metrics(HeightDomain(), {}, {"nll"}, 4) == {}


def test_picture_contexts_of_other_units_or_shapes_are_named_before_the_fit_starts(tmp_path):
    """Positions in pixels were only warned of as an extrapolation and drew wrong pictures; values without their
    axis failed in the model at the first validation, after the steps before it."""
    from types import SimpleNamespace

    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule

    class Pixels(DrawnHeights):
        def picture_contexts(self, signal, levels, generator):
            return {k: (pos * 5, val) for k, (pos, val) in super().picture_contexts(signal, levels, generator).items()}

    class Flat(DrawnHeights):
        def picture_contexts(self, signal, levels, generator):
            return {k: (pos, val[..., 0]) for k, (pos, val) in super().picture_contexts(signal, levels, generator).items()}

    module = PixelTransformerModule(spec=SPEC, domain=Pixels(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1)).eval()
    signal = torch.rand(2, 1, *GRID) * 2 - 1  # [2, 1, 6, 5]
    pictures = Pictures(levels=(3,), num_samples=0)
    trainer = SimpleNamespace(is_global_zero=False, limit_val_batches=1.0, datamodule=HeightData(), state=FITTING)
    with pytest.raises(ValueError, match=r"^Pixels\.picture_contexts\(\)\['3'\] returned positions up to 5: positions "
                                         r"are normalised to \[-1, 1\] per axis"):
        pictures.on_fit_start(trainer, module)  # on every rank: one that stopped alone left the others waiting
    module.domain = Flat()
    with pytest.raises(ValueError, match=r"^Flat\.picture_contexts\(\)\['3'\] returned positions \[2, 3, 2\] and "
                                         r"values \[2, 3\]; the model reads positions \[2, K, 2\] and values "
                                         r"\[2, K, 1\]$"):
        pictures.draw(module, signal, tmp_path)
    module.domain = DrawnHeights()
    pictures.on_fit_start(trainer, module)  # the default's contexts pass


def test_the_picture_contexts_and_resolution_of_a_domain_that_draws_no_pictures_refuse_nothing(monkeypatch):
    """A domain without a pictures() of its own draws nothing, so its picture contexts are never completed: a fit,
    a validate or a test was still refused over them (positions in pixels, a resolution too large for the memory),
    pictures never drawn. The fit warns that the domain draws none, and goes on."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule

    class Pixels(HeightDomain):  # no pictures(): nothing drawn
        def picture_contexts(self, signal, levels, generator):
            return {k: (pos * 5, val) for k, (pos, val) in super().picture_contexts(signal, levels, generator).items()}

    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)
    module = PixelTransformerModule(spec=SPEC, domain=Pixels(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1)).eval()
    trainer = SimpleNamespace(is_global_zero=True, limit_val_batches=1.0, fast_dev_run=False, datamodule=HeightData(),
                              state=SimpleNamespace(fn="validate"))
    pictures = Pictures(num_examples=2, levels=(3, 5), num_samples=3, resolution=100000)
    with pytest.warns(UserWarning, match=r"^Pixels draws no pictures"):
        pictures.on_fit_start(trainer, module)
    pictures.on_validation_start(trainer, module)
    pictures.on_test_start(trainer, module)


def test_a_pictures_resolution_too_large_for_the_machine_is_refused_before_the_fit_starts(monkeypatch):
    """The Pictures callback's resolution had no check of its own: 100000 on a 2D model was refused only at the first
    validation, after the training steps before it, as a grid_shape that named no option to change."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule

    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)
    module = PixelTransformerModule(spec=SPEC, domain=DrawnHeights(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1)).eval()
    trainer = SimpleNamespace(is_global_zero=True, limit_val_batches=1.0, fast_dev_run=False,
                              datamodule=HeightData(), state=FITTING)
    # a point of a completion with 3 samples: 4 bytes x (2 positions + 1 bin x 3) + 4 x 1 mean + 3 chains x 29 =
    # 111 bytes, of which it keeps 4 x (1 bin x 3 + 1 mean + 3 samples) = 28; 2 examples x (28 + 111) at 2 |S| levels
    pictures = Pictures(num_examples=2, levels=(3, 5), num_samples=3, resolution=100000)
    message = ("Pictures: resolution 100000 means 1e+10 points (a 100000×100000 grid) for each of 4 completions (2 "
               "examples x 2 contexts), which need at least 2.53 TiB: more than the 8 GiB of memory available now; "
               "at most resolution 5558, or null (the data's grid)")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        pictures.on_fit_start(trainer, module)
    with pytest.raises(ValueError, match="^Pictures: resolution 100000 means"):
        pictures.on_test_start(trainer, module)
    Pictures(num_examples=2, levels=(3, 5), num_samples=3, resolution=5558).on_fit_start(trainer, module)
    with pytest.raises(ValueError, match="at most resolution 5558, or null"):
        Pictures(num_examples=2, levels=(3, 5), num_samples=3, resolution=5559).on_fit_start(trainer, module)


def test_the_pictures_memory_check_counts_the_samples_each_context_draws_and_runs_before_a_validate(monkeypatch):
    """The check charged num_samples to every picture context, where the domain's picture_samples gives some none
    (the images' contexts at each |S| are means only): a resolution that fitted was refused. And `validate` drew the
    val pictures without the check, which ran only at a fit's and a test's start."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn

    import pixeltransformer.memory as memory
    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule

    class MeansAtThree(DrawnHeights):
        def picture_samples(self, name: str, num_samples: int) -> int:
            return 0 if name == "3" else num_samples

    module = PixelTransformerModule(spec=SPEC, domain=MeansAtThree(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1)).eval()
    trainer = SimpleNamespace(is_global_zero=True, limit_val_batches=1.0, fast_dev_run=False,
                              datamodule=HeightData(), state=SimpleNamespace(fn=TrainerFn.VALIDATING))
    pictures = Pictures(num_examples=2, levels=(3, 5), num_samples=3, resolution=100)
    # 2 examples, each a completion at |S| = 3 without samples, of which the parameters and mean stay, then one at
    # |S| = 5 with 3
    drawn = 2 * (memory.kept_bytes(SPEC, 100 * 100, 0) + memory.completion_bytes(SPEC, 100 * 100, 3))
    monkeypatch.setattr(memory, "available_memory", lambda: drawn)
    pictures.on_fit_start(trainer, module)
    pictures.on_validation_start(trainer, module)
    monkeypatch.setattr(memory, "available_memory", lambda: drawn - 1)
    with pytest.raises(ValueError, match=r"^Pictures: resolution 100 means 10,000 points .* 4 completions .*"
                                         r"; at most resolution 99, or null \(the data's grid\)$"):
        pictures.on_validation_start(trainer, module)  # a `validate` of a checkpoint
    trainer.state.fn = TrainerFn.FITTING
    pictures.on_validation_start(trainer, module)  # a fit's validations: checked once, at its start


def test_the_pictures_memory_check_counts_one_completion_s_temporaries_at_a_time(monkeypatch):
    """The check added up every picture context's whole completion, though a draw makes them one at a time: the
    grid positions, the mean's reading of the parameters and the sample chains of one are gone before the next
    starts, and only what a completion keeps (parameters, mean, samples) piles up. With 150 bins at 3 contexts a
    resolution the machine could draw was refused (on a 150-bin 3D model at 32^3 points, measured 554 MiB at the
    peak, the check asked 790 MiB)."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.callbacks import Pictures

    spec = SignalSpec(domain="heights", dataset="toy", grid_shape=GRID, val_dims=1, val_range=(-1.0, 1.0),
                      num_bins=150)
    module = SimpleNamespace(spec=spec, domain=DrawnHeights(), device=torch.device("cpu"))
    trainer = SimpleNamespace(limit_val_batches=1.0, datamodule=HeightData(), state=FITTING)
    pictures = Pictures(num_examples=2, levels=(3, 5, 7), num_samples=3, resolution=100)
    # a point of a completion: 4 bytes x (2 positions + 150 bins x 3) held, 4 x (150 x 4 + 1) for the mean's
    # reading: 4212 bytes; kept: 4 x (150 x 3 + 1 mean + 3 samples) = 1816. 2 examples x 10,000 points x (2 contexts
    # kept + one whole) = 156,880,000 bytes (the three whole: 252,720,000)
    monkeypatch.setattr(memory, "available_memory", lambda: 156_880_000)
    pictures.on_fit_start(trainer, module)
    monkeypatch.setattr(memory, "available_memory", lambda: 156_880_000 - 1)
    with pytest.raises(ValueError, match=r"^Pictures: resolution 100 means 10,000 points \(a 100×100 grid\) for each "
                                         r"of 6 completions \(2 examples x 3 contexts\), which need at least 150 MiB"
                                         r": more than the 150 MiB of memory available now; at most resolution 99"):
        pictures.on_fit_start(trainer, module)


def test_an_evaluation_whose_samples_could_not_fit_the_machine_is_refused_before_its_first_batch(monkeypatch):
    """SweepEvaluation's num_samples (and queries) had no memory check: num_samples 1000000000 met torch's allocator
    in the first batch's sampling, after the checkpoint had loaded, with a traceback."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.evaluation import SweepEvaluation
    from pixeltransformer.module import PixelTransformerModule

    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)
    module = PixelTransformerModule(spec=SPEC, domain=HeightDomain(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1)).eval()
    data = HeightData(batch_size=16)
    trainer = SimpleNamespace(is_global_zero=True, datamodule=data, default_root_dir=".", test_loop=loop_reading(data))
    # a query: 4 bytes x (2 positions + 1 bin x 3 + 1 value) + S chains x 29 bytes; 30 grid points, 16 signals a batch
    message = ("SweepEvaluation: num_samples 1000000000 at 30 queries of each of 16 signals of a batch need at least "
               "12.7 TiB: more than the 8 GiB of memory available now; at most num_samples 617092, or a smaller "
               "data batch_size")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SweepEvaluation(levels=(3,), num_samples=10**9).on_test_start(trainer, module)
    SweepEvaluation(levels=(3,), num_samples=617092).check_memory(trainer, module)
    with pytest.raises(ValueError, match=r"^SweepEvaluation: num_samples 0 at 1e\+12 queries of each of 16 signals .*"
                                         r"; at most queries 13421772, or a smaller data batch_size$"):
        SweepEvaluation(levels=(3,), queries=10**12).on_test_start(trainer, module)


def test_an_evaluation_s_memory_check_sizes_the_batch_of_the_data_module_the_test_reads(monkeypatch):
    """After a fit, trainer.datamodule is the fit's (Lightning keeps it): the check sizes the test's own batch."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.evaluation import SweepEvaluation

    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)
    # 16 signals x 30 queries x (4 bytes x (2 + 3 + 1) + 29 bytes x S): 617092 samples fit in 8 GiB; 1 signal takes
    # a 16th of that
    trainer = SimpleNamespace(datamodule=HeightData(batch_size=1), test_loop=loop_reading(HeightData(batch_size=16)))
    with pytest.raises(ValueError, match=r"^SweepEvaluation: num_samples 1234184 at 30 queries of each of 16 "
                                         r"signals "):
        SweepEvaluation(levels=(3,), num_samples=2 * 617092).check_memory(trainer, SimpleNamespace(spec=SPEC))


def test_an_evaluation_s_memory_check_shares_the_machine_among_its_local_ranks(monkeypatch):
    """Under DDP every rank completes its test batches at once, but each compared its own batch with the whole
    machine's memory: 2 ranks of a node each let through what only one could hold. The ranks on one machine (the
    trainer's devices) now each get their share; a run of one process keeps the whole."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.evaluation import SweepEvaluation

    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)
    module = SimpleNamespace(spec=SPEC)
    # 16 signals x 30 queries x (4 bytes x (2 + 3 + 1) + 29 bytes x S): 617092 samples fit in 8 GiB, 308545 in 4
    alone = SimpleNamespace(datamodule=HeightData(batch_size=16), world_size=1, num_devices=1)
    SweepEvaluation(levels=(3,), num_samples=617092).check_memory(alone, module)
    node = SimpleNamespace(datamodule=HeightData(batch_size=16), world_size=4, num_devices=2)  # 2 nodes of 2 ranks
    message = ("SweepEvaluation: num_samples 617092 at 30 queries of each of 16 signals of a batch need at least "
               "8 GiB: more than 4 GiB, the share of each of this machine's 2 processes in the 8 GiB of memory "
               "available now; at most num_samples 308545, or a smaller data batch_size")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SweepEvaluation(levels=(3,), num_samples=617092).check_memory(node, module)
    SweepEvaluation(levels=(3,), num_samples=308545).check_memory(node, module)


def test_an_evaluation_on_gpus_checks_each_rank_s_own_device(monkeypatch):
    """On GPUs the evaluation's completions are held in each rank's device memory, and the host keeps per-item
    scores; but its batch was compared with the host's memory, shared among the local ranks: 4 GPUs of 80 GiB on a
    host of 100 GiB gave each rank 25 GiB, and a batch each GPU could hold was refused. It is compared with the
    rank's device, which no other rank shares."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.evaluation import SweepEvaluation

    monkeypatch.setattr(memory, "available_memory", lambda: 100 * 2**30)
    monkeypatch.setattr(memory, "device_memory", lambda device: 80 * 2**30)
    module = SimpleNamespace(spec=SPEC, device=torch.device("cuda", 0))
    node = SimpleNamespace(datamodule=HeightData(batch_size=16), world_size=4, num_devices=4)
    # 16 signals x 30 queries x (4 bytes x (2 + 3 + 1) + 29 bytes x S): 617092 samples need 8 GiB
    SweepEvaluation(levels=(3,), num_samples=8 * 617092).check_memory(node, module)  # 64 GiB
    with pytest.raises(ValueError, match=r"^SweepEvaluation: num_samples 6788012 at 30 queries of each of 16 signals "
                                         r"of a batch need at least 88 GiB: more than the 80 GiB of memory free on "
                                         r"cuda:0 now; at most num_samples 6170929, or a smaller data batch_size$"):
        SweepEvaluation(levels=(3,), num_samples=11 * 617092).check_memory(node, module)
    module.device = torch.device("cpu")  # CPU ranks share the host's memory
    with pytest.raises(ValueError, match=r"more than 25 GiB, the share of each of this machine's 4 processes in "
                                         r"the 100 GiB of memory available now"):
        SweepEvaluation(levels=(3,), num_samples=8 * 617092).check_memory(node, module)


def test_the_pictures_of_a_gpu_fit_check_the_host_for_what_comes_back(monkeypatch):
    """On a GPU a picture's completion is made in the GPU's memory (and checked there, by complete), and only its
    parameters, mean and samples come back to the host; the host was checked for every completion whole, refusing
    pictures it could hold."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.callbacks import Pictures

    module = SimpleNamespace(spec=SPEC, domain=DrawnHeights(), device=torch.device("cuda", 0))
    trainer = SimpleNamespace(limit_val_batches=1.0, datamodule=HeightData(), state=FITTING)
    pictures = Pictures(num_examples=2, levels=(3, 5), num_samples=3, resolution=100)
    # kept: 4 bytes x (1 bin x 3 + 1 mean + 3 samples) = 28 a point; 2 examples x 2 contexts x 10,000 points
    monkeypatch.setattr(memory, "available_memory", lambda: 1_120_000)
    pictures.on_fit_start(trainer, module)
    monkeypatch.setattr(memory, "available_memory", lambda: 1_120_000 - 1)
    with pytest.raises(ValueError, match=r"^Pictures: resolution 100 .* need at least 1.07 MiB: more than the "
                                         r"1.07 MiB of memory available now; at most resolution 99, or null"):
        pictures.on_fit_start(trainer, module)


def test_an_evaluation_where_no_sample_fits_says_num_samples_0_for_one_signal(monkeypatch):
    """Where the queries fitted without samples and not with one, the line said "at most num_samples 1", which it had
    just refused, and "each of 1 signals"."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.evaluation import SweepEvaluation

    # a query: 4 bytes x (2 positions + 1 bin x 3 + the mean's 1 bin x 4 + 1 value), 29 bytes more with a sample:
    # 100 queries take 4000 bytes, 5300 with a sample
    monkeypatch.setattr(memory, "available_memory", lambda: 4500)
    trainer, module = SimpleNamespace(datamodule=HeightData(batch_size=1)), SimpleNamespace(spec=SPEC)
    with pytest.raises(ValueError, match=r"^SweepEvaluation: num_samples 5 at 100 queries of each of 1 signal of a "
                                         r"batch need .*; at most num_samples 0, or a smaller data batch_size$"):
        SweepEvaluation(levels=(3,), queries=100, num_samples=5).check_memory(trainer, module)
    SweepEvaluation(levels=(3,), queries=100, num_samples=0).check_memory(trainer, module)


def test_what_a_domain_reads_for_a_prediction_is_checked_where_it_enters_the_core(tmp_path):
    """read_input's 8-bit levels failed in torch's grid reading, its values beyond the bins only at the model;
    context_from_rows's positions in the data's own units were only warned of, and its values without their axis
    failed in the model."""
    from pixeltransformer.predict import PredictOptions, prediction_item

    class Levels(HeightDomain):
        def read_input(self, path, spec):
            return torch.full((1, *GRID), 200, dtype=torch.uint8)  # [1, 6, 5]

    class Bytes(HeightDomain):
        def read_input(self, path, spec):
            return torch.full((1, *GRID), 200.0)  # [1, 6, 5]: 0..255, where the spec says [-1, 1]

    class Pixels(HeightDomain):
        def context_from_rows(self, rows, spec, source):
            return rows[:, :2] * 3, rows[:, 2:]  # [K, 2] in pixels, [K, 1]

    class Flat(HeightDomain):
        def context_from_rows(self, rows, spec, source):
            return rows[:, :2], rows[:, 2]  # [K, 2], [K]

    file = file_to_predict(tmp_path)
    with pytest.raises(ValueError, match=r"^Levels\.read_input returned torch\.uint8 values; it must return float "
                                         r"values in the spec's val_range \[-1, 1\]$"):
        prediction_item(Levels(), SPEC, file)
    with pytest.raises(ValueError, match=r"^Bytes\.read_input returned values in \[200, 200\], outside the spec's "
                                         r"val_range \[-1, 1\], which the value bins span$"):
        prediction_item(Bytes(), dataclasses.replace(SPEC, num_bins=4), file)
    rows = PredictOptions(context="[[0.5, -0.5, 0.25], [1, 1, 0]]")
    with pytest.raises(ValueError, match=r"^Pixels\.context_from_rows returned positions up to 3: positions are "
                                         r"normalised to \[-1, 1\] per axis"):
        prediction_item(Pixels(), SPEC, rows)
    with pytest.raises(ValueError, match=r"^Flat\.context_from_rows returned positions \[2, 2\] and values \[2\]; the "
                                         r"model reads positions \[K, 2\] and values \[K, 1\]$"):
        prediction_item(Flat(), SPEC, rows)
    item = prediction_item(HeightDomain(), SPEC, rows)
    assert item["ctx_pos"].shape == (2, 2) and item["ctx_val"].shape == (2, 1)

    class Joined(HeightDomain):
        def context_from_rows(self, rows, spec, source):
            return rows  # [K, 3]: one tensor, unpacked along its rows before it was checked

    class Forgot(HeightDomain):
        def context_from_rows(self, rows, spec, source):
            rows[:, :2], rows[:, 2:]  # no return

    for wrong, got in ((Joined, "Tensor"), (Forgot, "NoneType")):
        with pytest.raises(ValueError, match=rf"^{wrong.__name__}\.context_from_rows returned {got}; it must return a "
                                             r"pair \(positions, values\): positions \[K, 2\] and values \[K, 1\]$"):
            prediction_item(wrong(), SPEC, rows)

    class Cube(HeightDomain):
        def predict_grid(self, spec, resolution):
            return 6, 5, 5  # a 3D grid for a 2D model

    with pytest.raises(ValueError, match=r"^Cube\.predict_grid returned \(6, 5, 5\); it must return 2 sizes >= 1, one "
                                         r"per position axis \(the model's grid is \(6, 5\)\)$"):
        prediction_item(Cube(), SPEC, rows)


def test_write_prediction_that_returns_no_files_is_named(tmp_path):
    from types import SimpleNamespace

    from pixeltransformer.predict import PredictionWriter, PredictOptions

    class Silent(HeightDomain):
        def write_prediction(self, completion, out_dir):
            (out_dir / "mean.txt").write_text("0")  # and the return forgotten

    writer = PredictionWriter(PredictOptions(context="[[0, 0, 0.5]]", out=str(tmp_path / "out")), tmp_path)
    module = SimpleNamespace(domain=Silent(), spec=SPEC)
    with pytest.raises(ValueError, match=r"^Silent\.write_prediction returned NoneType: it must return the list of "
                                         r"files \(Paths\) it wrote$"):
        writer._write(SimpleNamespace(ckpt_path=""), module, SimpleNamespace())
    assert (tmp_path / "out" / "mean.txt").read_text() == "0"  # what the domain wrote stays
    # where it cannot stay (another prediction took the given --out meanwhile), the domain's error is still the one told
    taken = PredictionWriter(PredictOptions(context="[[0, 0, 0.5]]", out=str(tmp_path / "taken")), tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "other.txt").write_text("theirs")
    with pytest.raises(ValueError, match=r"^Silent\.write_prediction returned NoneType: it must return the list of "
                                         r"files \(Paths\) it wrote$"):
        taken._write(SimpleNamespace(ckpt_path=""), module, SimpleNamespace())
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["other.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]



def _written_prediction(domain, writer):
    """Hand ``writer`` a completion of one context point, as the predict loop does, with ``domain``'s files."""
    from types import SimpleNamespace

    module = SimpleNamespace(domain=domain, spec=SPEC)
    # S of one point: positions [1, K, P], values [1, K, V]
    completion = SimpleNamespace(ctx_pos=torch.zeros(1, 1, 2), ctx_val=torch.full((1, 1, 1), 0.5))
    writer._write(SimpleNamespace(ckpt_path="", precision="32-true"), module, completion)


def test_a_prediction_stopped_while_it_writes_leaves_no_partial_files(tmp_path):
    """Ctrl-C (or a full disk, or a domain's error) while a domain wrote its files left those written so far in the
    prediction's folder, without prediction.json, under the name of a finished prediction. Its files are now written
    beside it and the folder renamed into place when all of them are there: a stopped one leaves nothing."""
    from pixeltransformer.predict import PredictionWriter, PredictOptions

    class Stopped(HeightDomain):
        def write_prediction(self, completion, out_dir):
            (out_dir / "mean.png").write_bytes(b"\x89PNG")  # the first picture, then Ctrl-C
            raise KeyboardInterrupt

    writer = PredictionWriter(PredictOptions(context="[[0, 0, 0.5]]"), tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        _written_prediction(Stopped(), writer)
    assert not (tmp_path / "run").exists()  # not the prediction's folder, nor the hidden one it was written in
    assert writer.written == []


def test_two_predictions_of_one_input_each_keep_a_folder_of_their_own(tmp_path):
    """Two predictions of one input at once each chose <run>/predict/<input>/, which was free when they started, and
    wrote into it together: the later one's files over the earlier one's, one prediction.json. The later one now
    goes to <input>-2; a given --out is refused, and the earlier prediction there is kept."""
    from pixeltransformer.predict import PredictionWriter, PredictOptions

    class Named(HeightDomain):
        def __init__(self, text):
            super().__init__()
            self.text = text

        def write_prediction(self, completion, out_dir):
            (out_dir / "mean.txt").write_text(self.text)
            return [out_dir / "mean.txt"]

    run = tmp_path / "run"
    first = PredictionWriter(PredictOptions(context="[[0, 0, 0.5]]"), run)
    second = PredictionWriter(PredictOptions(context="[[0, 0, 0.5]]"), run)
    assert first.out == second.out == run / "predict" / "context"
    _written_prediction(Named("first"), first)
    _written_prediction(Named("second"), second)
    assert (run / "predict" / "context" / "mean.txt").read_text() == "first"
    assert (run / "predict" / "context-2" / "mean.txt").read_text() == "second"
    assert second.written == [run / "predict" / "context-2" / name for name in ("mean.txt", "prediction.json")]
    assert sorted(p.name for p in (run / "predict").iterdir()) == ["context", "context-2"]
    given = [PredictionWriter(PredictOptions(context="[[0, 0, 0.5]]", out=str(tmp_path / "out")), run) for _ in "ab"]
    _written_prediction(Named("first"), given[0])
    with pytest.raises(FileExistsError, match=r"^--out .*/out: another prediction was written there while this one "
                                              r"ran; nothing of this one was kept: choose a new folder$"):
        _written_prediction(Named("second"), given[1])
    assert (tmp_path / "out" / "mean.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "run"]

IMPORT_FAILED = """Parser key "{key}":
  Does not validate against any of the Union subtypes
  Subtypes: [<class '{base}'>, <class 'NoneType'>]
  Errors:
    - {cause}
    - Expected a <class 'NoneType'>
  Given value type: <class 'dict'>
  Given value: {given}"""


def test_a_class_path_whose_module_fails_to_import_names_the_cause():
    """A config's class path to a module with a bug of its own (a SyntaxError, a NameError, a Domain refused when
    defined) said only "expected SignalDataModule or null, got NestedArg(...)"; jsonargparse's message holds the
    cause."""
    from pixeltransformer.errors import parse_error_line

    def line(cause: str, given: str = "{'class_path': 'mine.data.MyData', 'init_args': {'batch_size': 8}}",
             key: str = "data", base: str = "pixeltransformer.datamodule.SignalDataModule") -> str:
        return parse_error_line(IMPORT_FAILED.format(key=key, base=base, cause=cause, given=given))

    assert line("name 'undefined' is not defined") == (
        "data: mine.data.MyData: name 'undefined' is not defined (python -c 'import mine.data' shows where)")
    assert line("invalid syntax (data.py, line 3)", given="NestedArg(key='class_path', val='mine.data.MyData')") == (
        "data: mine.data.MyData: invalid syntax (data.py, line 3)")
    assert line("Import path mine.domain.Mine does not correspond to a subclass of Domain", key="model.domain",
                given="{'class_path': 'mine.domain.Mine'}", base="pixeltransformer.domain.Domain") == (
        "model.domain: Import path mine.domain.Mine does not correspond to a subclass of Domain")


def test_a_prediction_removes_what_killed_predictions_left_while_they_wrote(tmp_path, ended_pid):
    """A prediction killed with -9 while it wrote left its hidden .<name>.<random>.partial/ folder in <run>/predict/
    for good. The staging folder now names its writer, and the next prediction there removes those of processes of
    this machine that no longer run; a running writer's, another machine's and one that names no writer stay."""
    from pixeltransformer.files import _writer
    from pixeltransformer.predict import PredictionWriter, PredictOptions

    class Written(HeightDomain):
        def write_prediction(self, completion, out_dir):
            (out_dir / "mean.txt").write_text("mean")
            return [out_dir / "mean.txt"]

    here = _writer().rsplit(".", 1)[0]  # host.namespace
    folder = tmp_path / "run" / "predict"
    names = {"dead": f".context.{here}.{ended_pid}.abcd_123.partial",
             "running": f".context.{here}.{os.getppid()}.abcd_123.partial",
             "elsewhere": f".context.other-host.{here.rsplit('.', 1)[1]}.{ended_pid}.abcd_123.partial",
             "unnamed": ".context.abcd_123.partial"}
    for name in names.values():
        (folder / name / "context").mkdir(parents=True)
        (folder / name / "context" / "mean.png").write_bytes(b"\x89PNG")
    writer = PredictionWriter(PredictOptions(context="[[0, 0, 0.5]]"), tmp_path / "run")
    _written_prediction(Written(), writer)
    left = {p.name for p in folder.iterdir()}
    assert left == {"context", names["running"], names["elsewhere"], names["unnamed"]}


def test_prediction_json_names_the_entries_of_its_context_rows(tmp_path):
    """prediction.json's context rows were bare numbers ([0.0, 0.0, 0.5]): which were the position and which the value
    was written nowhere. ``context_columns`` now names each entry, in the order --context reads a row (the domain's
    row_names, a last "value..." spread over the V values), and the rows stay as they were: --context reads them."""
    from pixeltransformer.predict import PredictionWriter, PredictOptions, parse_rows

    class Written(HeightDomain):
        def write_prediction(self, completion, out_dir):
            return []

    class Rows(Written):
        row_names = ("y", "x", "value...")

    for domain, columns in ((Written(), ["x0", "x1", "value"]), (Rows(), ["y", "x", "value"])):
        writer = PredictionWriter(PredictOptions(context="[[0, 0, 0.5]]"), tmp_path / type(domain).__name__)
        _written_prediction(domain, writer)
        record = json.loads(writer.written[-1].read_text())
        assert record["context_columns"] == columns
        assert record["context"] == [[0.0, 0.0, 0.5]]
        rows, _, _ = parse_rows(json.dumps(record["context"]), len(columns), "", SPEC.pos_dims)  # [K, P + V]
        assert rows.tolist() == record["context"]


def test_context_columns_spread_a_last_name_over_the_values():
    from pixeltransformer.domain import context_columns

    colour = SignalSpec(domain="c", dataset="toy", grid_shape=GRID, val_dims=3, val_range=(0.0, 1.0))

    class Rows(HeightDomain):
        row_names = ("y", "x", "value...")

    class Video(HeightDomain):
        row_names = ("y", "x", "r", "g", "b")

    assert context_columns(Rows(), colour) == ["y", "x", "value_1", "value_2", "value_3"]
    assert context_columns(Video(), colour) == ["y", "x", "r", "g", "b"]
    assert context_columns(HeightDomain(), colour) == ["x0", "x1", "value_1", "value_2", "value_3"]


def test_a_domain_whose_summary_takes_only_the_rows_still_writes_its_entries():
    """Domain.summary came to take the per-item values as well (verdicts judged by a paired test); a domain of one's
    own that overrides summary(rows), as the contract was, failed the evaluation with a TypeError."""
    from types import SimpleNamespace

    from pixeltransformer.evaluation import SweepEvaluation

    class RowsOnly(Domain):
        def summary(self, rows):
            return {"rows": len(rows)}

    class WithItems(Domain):
        def summary(self, rows, items=None):
            return {"rows": len(rows), "items": len(items)}

    sweep = SweepEvaluation(levels=(3,))
    sweep._values = {(3, "nll"): {i: 1.0 for i in range(5)}}
    assert sweep.summary([{}, {}], SimpleNamespace(domain=RowsOnly())) == {"rows": 2}
    assert sweep.summary([{}, {}], SimpleNamespace(domain=WithItems())) == {"rows": 2, "items": 1}


def test_verdicts_not_judged_on_a_test_split_of_too_few_items_names_a_larger_split():
    """Below 5 test items the verdicts' remedy said "evaluate more test items (trainer.callbacks.max_items)" even
    where the test split held no more; it now names a larger test split there, and max_items alone where it cut.
    The evaluation decides it, for a domain's verdict_keys: the domain, given no per-item values, only says what it
    would judge (a domain whose summary takes the rows alone too); a verdict it gives as null is not said."""
    from types import SimpleNamespace

    from pixeltransformer.evaluation import SweepEvaluation

    class Judged(Domain):
        verdict_keys = ("wins_at", "rises")

        def summary(self, rows, items=None):
            return {"wins_at": [3] if items is None else [], "rises": None, "units": "nats"}

    class RowsOnly(Judged):
        def summary(self, rows):
            return {"wins_at": [3], "units": "nats"}

    head = "2 test items, fewer than the 5 a paired comparison of methods needs: the verdicts are null; "
    for max_items, remedy in ((None, ", or a larger test split,"), (3, ", or a larger test split,"), (2, "")):
        sweep = SweepEvaluation(levels=(3,), max_items=max_items)
        sweep._values, sweep.evaluated = {(3, "nll"): {0: 1.0, 1: 2.0}}, {0, 1}
        why = f"{head}evaluate more test items (trainer.callbacks.max_items){remedy} to judge them"
        assert sweep.summary([{}], SimpleNamespace(domain=Judged())) == {
            "wins_at": None, "rises": None, "units": "nats", "verdicts_not_judged": why}
        assert sweep.summary([{}], SimpleNamespace(domain=RowsOnly())) == {
            "wins_at": None, "units": "nats", "verdicts_not_judged": why}
    sweep._values = {(3, "nll"): {i: 1.0 for i in range(5)}}  # enough: the domain judges, on the per-item values
    assert sweep.summary([{}], SimpleNamespace(domain=Judged())) == {"wins_at": [], "rises": None, "units": "nats"}
    sweep._values = {(3, "nll"): {0: 1.0}}  # a verdict the domain leaves null (no trend to judge): nothing said

    class Unjudged(Judged):
        def summary(self, rows, items=None):
            return {"rises": None}

    assert sweep.summary([{}], SimpleNamespace(domain=Unjudged())) == {"rises": None}


def test_a_paired_verdict_on_fewer_than_two_pairs_is_null():
    """beats_paired read False where fewer than 2 items scored both methods (no standard error to judge by): a
    verdict that could not be judged read as one judged against. It is None now, null in metrics.json."""
    from pixeltransformer.domain import beats_paired

    nan = float("nan")
    assert beats_paired({0: 1.0}, {0: 0.5}) is None
    assert beats_paired({0: 1.0, 1: nan}, {0: 0.5, 1: 0.2}) is None  # a NaN pair is left out
    assert beats_paired({0: 1.0, 1: 2.0}, {2: 0.5, 3: 0.2}) is None  # no item scored by both
    assert beats_paired({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.6}) is True
    assert beats_paired({0: 1.0, 1: 2.0}, {0: 1.5, 1: 1.6}) is False


def test_a_refused_context_row_of_any_grid_domain_is_told_the_units_of_a_row():
    """Only video's refused `predict --context` rows said where a grid index lies and what a value is; another grid
    domain's said "positions must lie in [-1, 1], got 4 in row 1" alone. The core's refusal now ends with the
    domain's ``row_units``, by default the model's grid and each axis' index i of n at 2i/(n - 1) - 1."""
    class Flat(Domain):
        pass

    spec = SignalSpec(domain="flat", dataset="t", grid_shape=(5, 8), val_dims=1, val_range=(0.0, 1.0), num_bins=8)
    told = ("rows.json: positions must lie in [-1, 1], got 4 in row 1; a row is [x0, x1, value]: on the model's 5x8 "
            "grid, grid point i of the 5 at x0 = 2i/4 - 1 and grid point i of the 8 at x1 = 2i/7 - 1, and value in "
            "[0, 1]")
    with pytest.raises(ValueError, match=re.escape(told)):
        Flat().context_from_rows(torch.tensor([[4.0, 0, 0.5]]), spec, "rows.json")  # [K, 3]
    one = dataclasses.replace(spec, grid_shape=(1, 1), val_range=(-2.0, 2.0))
    assert Flat().row_units(one) == ("a row is [x0, x1, value]: on the model's 1x1 grid, the one grid point at x0, "
                                     "x1 = 0, and value in [-2, 2]")


def test_the_first_entry_outside_a_range_is_named_as_its_tensor_holds_it():
    """An entry of a tensor other than float64 was written through float32's str(): an int64 1700000001 as
    1700000000. A float entry of fewer bits is the shortest decimal its type reads back (1.2, not 1.2000000476837158;
    1700000100 for the float32 it holds, 1700000128), as predict.json writes rows; -0.0 is 0."""
    from pixeltransformer.domain import first_outside

    for entries, told in ((torch.tensor([[0.5], [1.2]]), "1.2 in row 2"),  # [K, 1] float32
                          (torch.tensor([[0.5], [-1e20]]), "-1e+20 in row 2"),  # [K, 1] float32
                          (torch.tensor([[1.5]], dtype=torch.float16), "1.5 in row 1"),  # [K, 1] float16
                          (torch.tensor([[0.5], [1_700_000_100.0]]), "1700000100 in row 2"),  # [K, 1] float32
                          (torch.tensor([[1_700_000_001], [0]]), "1700000001 in row 1"),  # [K, 1] int64
                          (torch.tensor([[0], [2**53 + 1]]), "9007199254740993 in row 2")):  # [K, 1] int64
        assert first_outside(entries, entries.abs() > 1) == told
    assert first_outside(torch.tensor([[0.5]]), torch.tensor([[False]])) == ""
    assert first_outside(torch.tensor([[-0.0]]), torch.tensor([[True]])) == "0 in row 1"  # outside a range above 0


@pytest.mark.parametrize("made, said", [
    ([("units", "mm")], r"^Summing\.summary returned list: it must return a dict of metrics\.json's extra entries"),
    (None, r"^Summing\.summary returned None: it must return a dict of metrics\.json's extra entries"),
    ({"best": torch.tensor(1.0)}, r"^Summing\.summary returned the entry 'best', which metrics\.json cannot hold \(a "
                                  r"Tensor value\): give plain numbers, strings, lists and dicts \(a tensor's "
                                  r"\.item\(\)"),
    ({"per_level": {(4, 16): 1.0}}, r"^Summing\.summary returned the entry 'per_level', which metrics\.json cannot "
                                    r"hold \(keys must be str"),
])
def test_a_summary_that_metrics_json_cannot_hold_is_named(made, said):
    """A summary of other than a dict, or holding a tensor, failed the evaluation after its whole sweep with a
    traceback from dict.update or json.dumps, naming neither the domain nor the entry."""
    from types import SimpleNamespace

    from pixeltransformer.evaluation import SweepEvaluation

    class Summing(Domain):
        def summary(self, rows, items=None):
            return made

    sweep = SweepEvaluation(levels=(3,))
    sweep._values = {(3, "nll"): {i: 1.0 for i in range(5)}}
    with pytest.raises(ValueError, match=said):
        sweep.summary([{}], SimpleNamespace(domain=Summing()))


def test_row_names_of_another_count_than_a_rows_entries_are_named_where_the_domain_meets_its_data():
    """row_names of 2 entries where a --context row has P + V = 3 put the refusal of a row as "a row is [x, density]:
    ... at x, density = 2i/15 - 1, and  in [0, 1]", naming neither the domain nor row_names."""
    from pixeltransformer.domain import resolve_domain

    class Short(HeightDomain):
        row_names = ("x", "height")

    class Spread(HeightDomain):
        row_names = ("y", "x", "height...")

    with pytest.raises(ValueError, match=r"^Short\.row_names names 2 entries \(x, height\), but a --context row of "
                                         r"its data has 3: the 2 position axes \(in grid_shape's order\) and the 1 "
                                         r"value \(a last name ending in '\.\.\.' stands for the values\)$"):
        resolve_domain(Short(), SPEC)
    assert resolve_domain(Spread(), SPEC).spec == SPEC
    assert resolve_domain(HeightDomain(), SPEC).spec == SPEC  # no row_names: x0, x1, value


@pytest.mark.parametrize("count", [-1, 1.5, None])
def test_picture_samples_of_no_count_are_named_before_the_fit_starts(count):
    """A picture_samples that returned -1 stopped the first validation, after the steps before it, at "num_samples
    must be an int >= 0, got -1", naming neither the domain's method nor the picture context."""
    from types import SimpleNamespace

    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule

    class Counting(DrawnHeights):
        def picture_samples(self, name, num_samples):
            return count

    module = PixelTransformerModule(spec=SPEC, domain=Counting(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1)).eval()
    trainer = SimpleNamespace(is_global_zero=False, limit_val_batches=1.0, datamodule=HeightData(), state=FITTING)
    with pytest.raises(ValueError, match=rf"^Counting\.picture_samples returned {count} for the picture context '3': "
                                         r"it must return a whole number >= 0 of samples \(0: the mean alone\)$"):
        Pictures(levels=(3,), num_samples=1).on_fit_start(trainer, module)
    module.domain = DrawnHeights()
    Pictures(levels=(3,), num_samples=1).on_fit_start(trainer, module)


def test_picture_samples_are_asked_once_per_picture_context_as_a_fit_starts():
    """The check before a fit asked each context's picture_samples twice at a resolution of their own (the count's
    check, then the memory's)."""
    from types import SimpleNamespace

    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule

    asked = []

    class Counting(DrawnHeights):
        def picture_samples(self, name, num_samples):
            asked.append(name)
            return num_samples

    module = PixelTransformerModule(spec=SPEC, domain=Counting(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1)).eval()
    trainer = SimpleNamespace(is_global_zero=False, limit_val_batches=1.0, datamodule=HeightData(), state=FITTING)
    Pictures(levels=(3, 5), num_samples=1, resolution=8).on_fit_start(trainer, module)  # memory checked too
    assert asked == ["3", "5"]


@pytest.mark.parametrize("count", [2.0, -1, "2"])
def test_a_pictures_num_samples_of_no_count_is_named_as_the_callback_is_made(count):
    """Pictures(num_samples=2.0) got through, and its refusal then blamed "<Domain>.picture_samples returned 2.0" for
    a class that never overrides it."""
    from pixeltransformer.callbacks import Pictures

    with pytest.raises(ValueError, match=rf"^Pictures: num_samples must be a whole number >= 0 \(0: the mean "
                                         rf"alone\), got {re.escape(repr(count))}$"):
        Pictures(num_samples=count)


@pytest.mark.parametrize("name, said", [
    ("my/density", "must be one folder name, not '.', '..' or a path: the name is its run folder "
                   "(<run_root>/<name>/)"),
    ("..", "must be one folder name, not '.', '..' or a path: the name is its run folder (<run_root>/<name>/)"),
    ("a\nb", "holds a line break or another control character: the name is its run folder (<run_root>/<name>/); "
             "give a name without"),
    ("d" * 256, "is 256 bytes long, more than a folder name may be (255): the name is its run folder "
                "(<run_root>/<name>/); give a shorter one"),
    (3, "must be a str: the name is its run folder (<run_root>/<name>/)"),
])
def test_a_domain_name_that_is_no_folder_name_is_refused_when_defined(name, said):
    """The name is the run folder, <run_root>/<name>/<run>: "my/density" put runs two folders deep, where nothing
    that reads runs/<domain>/<run> finds them, and ".." put them beside run_root. What a --run_name may be, a domain
    name may be: "my density", "höhen" and "_x" made folders as any run name does."""
    with pytest.raises(ValueError, match=rf"^Domain name {re.escape(repr(name))} of .*Pathy {re.escape(said)}$"):
        type("Pathy", (Domain,), {"name": name})  # class Pathy(Domain): name = <name>
    for plain in ("point_density-2.d", "my density", "höhen", "_x", "-v"):
        assert type("Plain", (Domain,), {"name": plain}).name == plain
        Domain.registry.pop(plain)


def test_items_of_another_dtype_than_float32_are_told_how_to_give_them():
    """uint8 items (levels 0-255, as the docs allow from __getitems__) stopped at "the model reads float32", saying
    neither the cast nor where levels may be given as they are stored."""

    class Levels(Heights):
        def __getitem__(self, i):
            return {"signal": torch.full((1, *GRID), 3, dtype=torch.uint8)}  # [1, 6, 5]

    data = HeightData()
    data.build_split = lambda split: Levels()
    with pytest.raises(ValueError, match=r"^HeightData: the train split yields torch\.uint8 signals; the model reads "
                                         r"float32: return items of signal\.float\(\) \(uint8 levels k: "
                                         r"signal\.float\(\) / 255\); a dataset's __getitems__ may keep its batch, "
                                         r"a dict of \[B, \.\.\.\] tensors, in the uint8 or float16 it is stored in, "
                                         r"but its items stay float32 \(docs/design\.md, Adding a domain\)$"):
        data.dataset("train")

# The pictures of the data alone (Domain.fixed_picture) under a plain lightning.Trainer, as docs/python.md trains:
# logged to W&B once in each fit or validate, whatever the callback logged before.


class Truthful(HeightDomain):
    """A truth drawn alone (the same file at every validation) beside the completions' means."""

    def pictures(self, completions, out_dir, suffix=""):
        from PIL import Image

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, c in [("truth", None), *completions.items()]:
            grid = (completions["3"].signal if c is None else c.mean)[0, 0].numpy()  # [6, 5]
            files[name] = out / f"{name}{'' if c is None else suffix}.png"
            Image.fromarray((np.clip(grid, -1, 1) * 127 + 128).astype(np.uint8)).save(files[name])
        return files

    def fixed_picture(self, name: str) -> bool:
        return name == "truth"


def truth_trainer(root: Path, pictures):
    import lightning as L
    from lightning.pytorch.loggers import WandbLogger

    return L.Trainer(max_steps=2, val_check_interval=1, check_val_every_n_epoch=None,
                     logger=WandbLogger(project="pixeltransformer", save_dir=str(root), offline=True),
                     callbacks=[pictures], default_root_dir=root, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")


def test_a_validate_after_a_fit_logs_the_pictures_of_the_data_alone_again(tmp_path, monkeypatch):
    """The callback kept the fit's record of the pictures it had logged once: a `trainer.validate` after the fit,
    on the fit's Trainer or on a new one with a W&B run of its own, logged the completions but not the truth."""
    import wandb

    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule
    from tests.cli.wandb_record import record_wandb_logs

    received = record_wandb_logs(monkeypatch, tmp_path)
    dm = HeightData(batch_size=2, val_items=2)
    module = PixelTransformerModule(spec=SPEC, domain=Truthful(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1), sets=dict(min_context=2, max_context=8,
                                                                                    num_queries=8))
    pictures = Pictures(num_examples=1, levels=(3,), num_samples=0)
    fitted = truth_trainer(tmp_path / "fit", pictures)
    fitted.fit(module, datamodule=dm)

    def logged(key: str) -> int:
        return sum(key in data for data in received)

    assert (logged("val/truth"), logged("val/3")) == (1, 2)  # the truth once in the fit, the means at each validation
    fitted.validate(module, datamodule=dm, verbose=False)
    assert (logged("val/truth"), logged("val/3")) == (2, 3)
    wandb.finish()
    received.clear()
    truth_trainer(tmp_path / "other", pictures).validate(module, datamodule=dm, verbose=False)
    wandb.finish()
    assert (logged("val/truth"), logged("val/3")) == (1, 1)
