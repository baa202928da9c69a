"""The shared manifest folder of the feature and image caches: round trip, bad manifests, the lock."""

import json
import logging

from seafloorhmc.utils.manifest_folder import MANIFEST, ManifestFolder


class _Store(ManifestFolder):
    version = 7
    kind = "test cache"
    unreadable = "starting over"


def test_a_saved_manifest_is_read_back_by_another_store(tmp_path):
    with _Store(tmp_path / "key", {"size": 64}).locked() as store:
        store.manifest["shards"].append({"file": "shard-000000.safetensors"})
        store.manifest["next"] = 1
        store.save_manifest()
    again = _Store(tmp_path / "key").manifest
    assert again == {"version": 7, "description": {"size": 64}, "next": 1,
                     "shards": [{"file": "shard-000000.safetensors"}]}


def test_an_unreadable_or_other_version_manifest_is_named_and_replaced_by_a_fresh_one(tmp_path, caplog):
    folder = tmp_path / "key"
    folder.mkdir()
    for text in ("{not json", json.dumps({"version": 6, "shards": []}), json.dumps({"version": 7, "shards": 3})):
        (folder / MANIFEST).write_text(text)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=__name__):
            assert _Store(folder, {"d": 1}).manifest == {"version": 7, "description": {"d": 1}, "next": 0,
                                                          "shards": []}
        assert len(caplog.records) == 1 and caplog.records[0].name == __name__, "logged as the owning cache"
        assert str(folder / MANIFEST) in caplog.text and "starting over" in caplog.text


def test_locking_rereads_what_another_process_wrote(tmp_path):
    first, second = _Store(tmp_path), _Store(tmp_path)
    assert first.manifest["next"] == 0
    with second.locked():
        second.manifest["next"] = 5
        second.save_manifest()
    with first.locked():
        assert first.manifest["next"] == 5
