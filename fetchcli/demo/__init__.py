"""demo: the `--demo` site (an asyncio HTTP/1.1 server on 127.0.0.1) and its self-check.

May import: fetchcli.model, fetchcli.options, fetchcli.sources.
"""
