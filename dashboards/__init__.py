"""Grafana boards as code: one module per board, small panel functions, generated JSON drift-checked."""
