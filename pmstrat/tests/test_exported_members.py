"""Guard: the package's public names are exactly its sorted ``__all__``."""

import pmstrat


def test_all_is_sorted_and_unique() -> None:
    assert pmstrat.__all__ == sorted(set(pmstrat.__all__))


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    public = {
        name
        for name, value in vars(pmstrat).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("pmstrat")
    }
    exported = set(pmstrat.__all__)
    assert all(hasattr(pmstrat, name) for name in exported)
    assert public <= exported, f"public but not exported: {sorted(public - exported)}"
