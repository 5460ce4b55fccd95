"""cli: the command line; the only package that imports Typer or Rich.

Owns flags and FETCHCLI_* variables → FetchOptions, the usage checks, the
wiring of one run (sources → engine → sinks), signals, the terminal display
and the exit policy. May import everything below it.
"""
