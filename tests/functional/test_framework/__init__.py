"""hashvive functional test framework (Python standard library only)."""
