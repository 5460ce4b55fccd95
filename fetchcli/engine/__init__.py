"""engine: schedules records onto a `Fetcher` and streams the results.

Owns the three --mode strategies, the --per-host and --rate limits,
--order input, and --workers (a fetcher that feeds child processes). It knows
nothing of how a record is fetched. May import: fetchcli.model,
fetchcli.options, fetchcli.sources, fetchcli.http (only to build a child's fetcher).
"""
