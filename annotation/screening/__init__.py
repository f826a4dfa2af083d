"""Media screening: probe each item's file (probe.py, no Django) and record the result
on the item (runs.py drives it on the `cpu` queue in parts)."""
