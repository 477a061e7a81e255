"""dbt's per-warehouse target folders are pruned where dagster-dbt writes them."""

import os

from soe_pipeline.defs.transform.project import prune_target_folders


def test_only_the_most_recent_target_folders_are_kept(tmp_path):
    folders = [tmp_path / f"run-{n:010d}" for n in range(8)]
    for age, folder in enumerate(reversed(folders)):
        folder.mkdir()
        os.utime(folder, (1_000_000 - age, 1_000_000 - age))
    other = tmp_path / "manifest.json"
    other.write_text("{}")
    keep = folders[0]  # the oldest one, used again by this run

    prune_target_folders(keep, max_folders=5)

    assert sorted(p.name for p in tmp_path.glob("run-*")) == sorted(
        [keep.name] + [f.name for f in folders[-4:]]
    )
    assert other.exists()


def test_a_folder_dbt_is_writing_to_is_never_pruned(tmp_path):
    """Other processes' dbt may be building in other folders (runs on other warehouses,
    parallel test workers): a folder whose log was written within the hour stays, however
    many there are; only the old ones beyond the most recent are removed."""
    folders = [tmp_path / f"run-{n:010d}" for n in range(8)]
    for folder in folders:
        folder.mkdir()
        os.utime(folder, (1_000_000, 1_000_000))
    busy = folders[1:7]
    for folder in busy:
        (folder / "dbt.log").write_text("17:00:00  1 of 54 START sql table model ...\n")
        os.utime(folder, (1_000_000, 1_000_000))  # the folder looks old; its log does not

    prune_target_folders(folders[0], max_folders=5)

    assert sorted(p.name for p in tmp_path.glob("run-*")) == [f.name for f in folders[:7]]


def test_every_warehouse_reuses_the_parsed_project_and_gets_its_own_file(tmp_path, monkeypatch):
    """The profile names no file (soe_pipeline.dbt_warehouse attaches the run's warehouse), so
    dbt's partial-parse state holds for a warehouse it has never seen, whatever its name."""
    import duckdb

    from soe_pipeline.dbt_warehouse import WAREHOUSE_ENV
    from soe_pipeline.defs.transform.project import dbt_cli

    for name in ("first.duckdb", "second warehouse.duckdb"):
        warehouse = tmp_path / name
        target = tmp_path / f"target-{warehouse.stem}"
        monkeypatch.setenv(WAREHOUSE_ENV, str(warehouse))
        invocation = dbt_cli().cli(["seed"], target_path=target, raise_on_error=False)
        invocation.wait()
        assert invocation.is_successful(), invocation.get_error()

        log = (target / "dbt.log").read_text()
        assert "skipping partial parsing" in log
        assert "full parse" not in log.lower()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            ((rows,),) = con.execute(
                "select count(*) from intermediate.exception_inputs"
            ).fetchall()
        assert rows > 0
    assert not list(tmp_path.glob("*.wal")), "dbt left a write-ahead log behind"
