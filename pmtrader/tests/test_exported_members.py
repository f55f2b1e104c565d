"""Guard: the package's public names are exactly its sorted ``__all__``."""

import pmtrader


def test_all_is_sorted_and_unique() -> None:
    assert pmtrader.__all__ == sorted(set(pmtrader.__all__))


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    public = {
        name
        for name, value in vars(pmtrader).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("pmtrader")
    }
    exported = set(pmtrader.__all__)
    assert all(hasattr(pmtrader, name) for name in exported)
    assert public <= exported, f"public but not exported: {sorted(public - exported)}"
