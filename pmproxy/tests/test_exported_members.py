"""Guard: the package's public names are exactly its sorted ``__all__``."""

import pmproxy


def test_all_is_sorted_and_unique() -> None:
    assert pmproxy.__all__ == sorted(set(pmproxy.__all__))


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    public = {
        name
        for name, value in vars(pmproxy).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("pmproxy")
    }
    exported = set(pmproxy.__all__)
    assert all(hasattr(pmproxy, name) for name in exported)
    assert public <= exported, f"public but not exported: {sorted(public - exported)}"
