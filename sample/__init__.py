"""Sample histories: a realistic, seeded relationship log for `recip demo` and `bench/`."""
