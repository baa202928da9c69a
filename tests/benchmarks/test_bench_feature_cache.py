import pytest

from seafloorhmc.benchmarks.feature_cache import SweepResult, compare, markdown_table


@pytest.mark.slow
def test_a_cached_sweep_encodes_each_image_once(tmp_path):
    cached, recomputed = compare(runs=2, images=12, size=32, encoder="test_resnet", epochs=1, batch=8, work=tmp_path)
    assert cached.encoder_images == 12, "every image once, for both runs together"
    # re-encoding: per run one epoch over 8 train images, then 2 validation and 2 test images
    assert recomputed.encoder_images == 2 * (8 + 2 + 2)
    assert cached.au_prc == pytest.approx(recomputed.au_prc, abs=1e-6), "the cache changes no result"


def test_table_reports_speed_up_and_encoder_work():
    slow = SweepResult("re-encode", 20, 100.0, 6000, 100, [0.5] * 20, 80.0)
    fast = SweepResult("cache", 20, 25.0, 100, 100, [0.5] * 20, 10.0)
    table = markdown_table(fast, slow)
    assert "| cache | 20 | 25.0 | 4.0× | 10.0 | 8.0× | 100 | 1.00 |" in table
    assert "| re-encode | 20 | 100.0 | 1.0× | 80.0 | 1.0× | 6000 | 60.00 |" in table
