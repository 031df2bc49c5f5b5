"""`python -m cursor_analytics.cli`: the same as the `cursor-analytics` command."""

from cursor_analytics.cli import main

main()
