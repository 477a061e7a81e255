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
