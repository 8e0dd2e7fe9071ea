"""An evaluation's offline W&B record, staged until the evaluation ends (wandbfolder.py)."""

from pixeltransformer.wandbfolder import drop_record, publish_record, stage_record


def _record(folder, name):
    """What W&B writes for one offline run: its folder with logs, and the three links to it."""
    (folder / name / "logs").mkdir(parents=True)
    (folder / name / "logs" / "debug.log").write_text(name)
    for link, target in (("latest-run", name), ("debug.log", f"{name}/logs/debug.log")):
        (folder / link).unlink(missing_ok=True)
        (folder / link).symlink_to(target)


def test_a_finished_evaluation_s_record_joins_the_fit_s_and_its_staging_goes(tmp_path):
    folder = tmp_path / "wandb"
    _record(folder, "offline-run-20261202_100000-fit1")
    staged, made = stage_record(folder)
    assert staged.parent == folder and staged.name.startswith(".evaluation.") and made == []
    _record(staged / "wandb", "offline-run-20261202_110000-eval")
    assert publish_record(staged) == ["offline-run-20261202_110000-eval"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "debug.log", "latest-run", "offline-run-20261202_100000-fit1", "offline-run-20261202_110000-eval"]
    assert (folder / "offline-run-20261202_110000-eval" / "logs" / "debug.log").read_text().endswith("eval")
    assert (folder / "latest-run").resolve().name == "offline-run-20261202_100000-fit1"  # the fit's links stay


def test_a_failed_evaluation_leaves_the_wandb_folder_as_it_was(tmp_path):
    folder = tmp_path / "run" / "wandb"
    folder.parent.mkdir()
    staged, made = stage_record(folder)  # the run's first W&B record: the folder is made for it
    assert made == [folder]
    _record(staged / "wandb", "offline-run-20261202_110000-eval")
    drop_record(staged, made)
    assert not folder.exists() and (tmp_path / "run").is_dir()
    _record(folder, "offline-run-20261202_100000-fit1")
    staged, made = stage_record(folder)
    drop_record(staged, made)
    assert sorted(p.name for p in folder.iterdir()) == ["debug.log", "latest-run", "offline-run-20261202_100000-fit1"]


def test_two_evaluations_staged_in_one_wandb_folder_keep_apart(tmp_path):
    """Two evaluations of one run folder at once (of two checkpoints), the first of its W&B records: the one that
    fails drops its own record alone; the other's staging folder and what W&B wrote there stay, and join the W&B
    folder when it ends."""
    folder = tmp_path / "run" / "wandb"
    folder.parent.mkdir()
    first, first_made = stage_record(folder)  # the run's first record: the folder is made for it
    second, second_made = stage_record(folder)
    assert first != second and first_made == [folder] and second_made == []
    _record(first / "wandb", "offline-run-20261202_110000-first")
    _record(second / "wandb", "offline-run-20261202_110001-second")
    drop_record(first, first_made)
    assert not first.exists() and [p.name for p in folder.iterdir()] == [second.name]
    kept = second / "wandb" / "offline-run-20261202_110001-second" / "logs" / "debug.log"
    assert kept.read_text() == "offline-run-20261202_110001-second"
    assert publish_record(second) == ["offline-run-20261202_110001-second"]
    assert [p.name for p in folder.iterdir()] == ["offline-run-20261202_110001-second"]
    assert (folder / "offline-run-20261202_110001-second" / "logs" / "debug.log").is_file()


def test_the_run_names_the_cli_derives_are_told_from_the_user_s():
    """derived_run_name: none given, the group itself, a resume's and an evaluation's name of that group are the
    CLI's (made again for the folder a command runs in); any other name, or any name without a group, the user's."""
    from pixeltransformer.wandbnames import derived_run_name, evaluation_run_name, resume_run_name

    group = "images/a.b (1)+"  # a group with characters a pattern would read as its own
    derived = [group, resume_run_name(group, 1), resume_run_name(group, 12), evaluation_run_name(group, "eval", "test"),
               evaluation_run_name(group, "eval-best-step004000", "validate"), f"{group}/x y (test)"]
    users = ["mine", "images/aXb (1)+", f"{group} ", f"{group} (resume )", f"{group} (resume x)", f"{group}(resume 1)",
             f"{group} (resume 1) ", f"{group}/eval (fit)", f"{group}/eval (predict)", f"{group}/a/b (test)",
             f"{group}/ (test)", f"{group}/eval(test)", f"{group}/eval (test|validate)", f"x{group}", group.upper(),
             f"{group}/eval (test)\n"]
    assert derived_run_name(None, group) and derived_run_name(None, None)
    for name in derived:
        assert derived_run_name(name, group), name
        assert not derived_run_name(name, None), name
    for name in users:
        assert not derived_run_name(name, group), name
