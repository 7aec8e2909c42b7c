"""Generic helpers with no business words."""
