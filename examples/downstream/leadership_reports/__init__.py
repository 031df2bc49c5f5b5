"""An example downstream code location built on cursor-analytics' asset keys and tables."""
