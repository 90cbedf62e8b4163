"""tap-xactly: Xactly Connect (xSQL) over JDBC."""
