"""The in-process copies of the program, rules and tiers (``loyalty.process_cache``)."""

from django.core.cache import cache

from loyalty import process_cache
from loyalty.process_cache import ProcessCache


class Source:
    def __init__(self):
        self.version, self.loads = "v1", 0

    def load(self):
        self.loads += 1
        return self.version, f"value {self.version}"


def test_the_copy_is_trusted_for_a_second_then_checked_against_the_shared_version(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: clock[0])
    source = Source()
    copy = ProcessCache(key="test:process-cache", load=source.load)
    assert copy.get() == "value v1"
    source.version = "v2"
    cache.delete("test:process-cache")  # another process saved: the shared version is gone
    clock[0] += 0.5
    assert copy.get() == "value v1"  # within the second: no cache read, the old copy
    clock[0] += 0.6
    assert copy.get() == "value v2"  # the second is over: the missing version makes it reload
    assert source.loads == 2
    clock[0] += 5
    assert copy.get() == "value v2"  # the shared version vouches for the copy: no reload
    assert source.loads == 2


def test_a_save_in_this_process_is_seen_at_once(monkeypatch):
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: 100.0)
    source = Source()
    copy = ProcessCache(key="test:process-cache-2", load=source.load)
    copy.get()
    source.version = "v2"
    copy.clear()
    assert copy.get() == "value v2"
