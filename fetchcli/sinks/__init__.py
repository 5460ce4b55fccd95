"""sinks: what observes results: formats, the line writer, summary, reports, resume, cache.

A sink never changes a result. May import: fetchcli.model, fetchcli.options,
fetchcli.text, fetchcli.sources (record keys for --resume).
"""
